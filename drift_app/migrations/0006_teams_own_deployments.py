"""Teams own deployments; users hold a role per team. Today's deployments and users join one default team.
Hashed, scoped API keys (personal tokens and per-deployment ingestion keys) replace DRF's plaintext tokens:
each existing token becomes a personal token with the same secret, stored only as its SHA-256.

Every user who holds a role group (power_user, sme, compliance, ml_engineer) becomes a member of the
default team with that role, so nobody loses access to what they saw before; teams can then be split.
"""

import hashlib

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import drift_app.models

ROLES = ("power_user", "sme", "compliance", "ml_engineer")


def into_default_team(apps, schema_editor):
    Team = apps.get_model("drift_app", "Team")
    TeamMembership = apps.get_model("drift_app", "TeamMembership")
    Deployment = apps.get_model("drift_app", "Deployment")
    User = apps.get_model("auth", "User")
    team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default team"})
    Deployment.objects.filter(team__isnull=True).update(team=team)
    memberships = [
        TeamMembership(team=team, user_id=user_id, role=role)
        for user_id, role in User.objects.filter(groups__name__in=ROLES).values_list("pk", "groups__name")
    ]
    TeamMembership.objects.bulk_create(memberships, ignore_conflicts=True)


def hash_drf_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiKey = apps.get_model("drift_app", "ApiKey")
    for token in Token.objects.all():
        ApiKey.objects.create(kind="personal", name="API token (from before hashing)", prefix=token.key[:12],
                              secret_hash=hashlib.sha256(token.key.encode()).hexdigest(), scopes=["read", "write"],
                              user_id=token.user_id, created_at=token.created)
    # The plaintext keys go: nobody below superuser could see them, and now nobody can.
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("drift_app", "0005_baselines_and_drift_runs"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Team",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("slug", models.SlugField(max_length=100, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="TeamMembership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("role", models.CharField(choices=[("power_user", "Power user"), ("sme", "Subject-matter expert"),
                                                   ("compliance", "Compliance officer"), ("ml_engineer", "ML engineer"),
                                                   ("team_admin", "Team admin")], max_length=20)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("team", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships",
                                           to="drift_app.team")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="team_memberships",
                                           to=settings.AUTH_USER_MODEL)),
            ],
            options={"constraints": [models.UniqueConstraint(fields=("team", "user", "role"), name="team_membership_unique")]},
        ),
        migrations.AddField(
            model_name="deployment", name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="deployments",
                                    to="drift_app.team"),
        ),
        migrations.RunPython(into_default_team, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="deployment", name="team",
            field=models.ForeignKey(default=drift_app.models.default_team_id, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="deployments", to="drift_app.team"),
        ),
        migrations.CreateModel(
            name="ApiKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("personal", "Personal API token"), ("ingestion", "Ingestion key")],
                                          max_length=10)),
                ("name", models.CharField(max_length=200)),
                ("prefix", models.CharField(max_length=16, unique=True)),
                ("secret_hash", models.CharField(max_length=64, unique=True)),
                ("scopes", django.contrib.postgres.fields.ArrayField(
                    base_field=models.CharField(choices=[("read", "Read (personal)"), ("write", "Write (personal)"),
                                                         ("ingest:samples", "Ingest samples"),
                                                         ("ingest:feedback", "Ingest feedback")], max_length=20),
                    default=list, size=None)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("deployment", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                 related_name="ingestion_keys", to="drift_app.deployment")),
                ("revoked_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                 related_name="+", to=settings.AUTH_USER_MODEL)),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="api_keys",
                                           to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [models.CheckConstraint(
                    condition=models.Q(models.Q(("deployment__isnull", True), ("kind", "personal")),
                                       models.Q(("deployment__isnull", False), ("kind", "ingestion")), _connector="OR"),
                    name="api_key_deployment_matches_kind")],
            },
        ),
        migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop),
    ]
