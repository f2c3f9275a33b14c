"""The golden set belongs to a team: items and versions get a team, and today's go to the default team.

Version numbers become unique per team (each team's set counts 1, 2, 3...). Items and versions that exist
join the default team (slug "default", made by drift_app.0006), which owns every deployment of an
installation made before teams, so every existing evaluation keeps comparing like with like.
"""

import django.db.models.deletion
from django.db import migrations, models

import drift_app.models


def into_default_team(apps, schema_editor):
    Team = apps.get_model("drift_app", "Team")
    GoldenItem = apps.get_model("goldenset", "GoldenItem")
    GoldenSetVersion = apps.get_model("goldenset", "GoldenSetVersion")
    team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default team"})
    GoldenItem.objects.filter(team__isnull=True).update(team=team)
    GoldenSetVersion.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("drift_app", "0010_sample_quality_scores"),
        ("goldenset", "0008_eval_run_requeue_count"),
    ]

    operations = [
        migrations.AddField(
            model_name="goldenitem", name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="golden_items",
                                    to="drift_app.team"),
        ),
        migrations.AddField(
            model_name="goldensetversion", name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="golden_versions", to="drift_app.team"),
        ),
        migrations.RunPython(into_default_team, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="goldenitem", name="team",
            field=models.ForeignKey(default=drift_app.models.default_team_id,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="golden_items",
                                    to="drift_app.team"),
        ),
        migrations.AlterField(
            model_name="goldensetversion", name="team",
            field=models.ForeignKey(default=drift_app.models.default_team_id,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="golden_versions",
                                    to="drift_app.team"),
        ),
        migrations.AlterField(model_name="goldensetversion", name="number", field=models.PositiveIntegerField()),
        migrations.AddConstraint(
            model_name="goldensetversion",
            constraint=models.UniqueConstraint(fields=("team", "number"), name="golden_version_number_per_team"),
        ),
    ]
