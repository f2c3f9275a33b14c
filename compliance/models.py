"""The audit trail and the stored compliance reports.

Both tables are append-only and the database enforces it: migration 0002 installs triggers that
reject UPDATE and DELETE on them (see that migration for TRUNCATE). The models refuse as well, so
the mistake surfaces in Python with a clear message before it reaches the trigger.

Neither table has a foreign key to a user: a FK would have to be nulled or cascaded when a user is
deleted, which is an UPDATE or DELETE the trigger rejects. The actor's id and username are copied.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from drift_app.models import Deployment


class AppendOnlyError(Exception):
    pass


class _AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only: they are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only: they are never deleted")


class AuditEvent(_AppendOnly):
    """One create, update or delete of a tracked object (or one change of a user's roles)."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        ROLE_ADD = "role_add", "Role granted"
        ROLE_REMOVE = "role_remove", "Role revoked"
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        GENERATE = "generate", "Generated"
        DOWNLOAD = "download", "Downloaded"
        VERIFY = "verify", "Verified"
        EXPORT = "export", "Exported"

    class Source(models.TextChoices):
        WEB = "web", "Web page"
        API = "api", "API"
        SYSTEM = "system", "System (task, command, migration, SQL)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # Null: the system acted (a Celery task, a management command, a migration).
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_username = models.CharField(max_length=150, default="system")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SYSTEM)
    request_path = models.CharField(max_length=500, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    # "goldenset.GoldenItem", "drift_app.Deployment", "auth.User" (role changes), ...
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    # The deployment the object belongs to, copied (no FK: deployments may be deleted, events stay).
    # Null for installation-wide objects: golden items, golden-set versions, role memberships.
    deployment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    changed_fields = models.JSONField(default=list, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # Hash chain (compliance.chain): SHA-256 over the previous event's hash and this event's canonical
    # content, so altering, removing or reordering any stored event breaks every link after it.
    # Both set by the database (trigger compliance_auditevent_chain), never by the app.
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")
    chain_version = models.PositiveSmallIntegerField(
        default=2, help_text="1: canonical JSON (Python); 2: length-prefixed column texts (database trigger).")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.object_type}#{self.object_id}"


class ComplianceReport(_AppendOnly):
    """A generated degradation report: its figures, PDF and CSV, their SHA-256 and who generated it.

    Regenerating the same period makes a new row; the figures (and so figures_sha256) come out the same
    as long as the underlying records are unchanged, which is what `verify` checks.
    """

    class Trigger(models.TextChoices):
        PAGE = "page", "Page"
        API = "api", "API"
        SCHEDULE = "schedule", "Monthly schedule"
        COMMAND = "command", "Management command"
        DEMO = "demo", "Demo"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="compliance_reports")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    figures = models.JSONField()
    figures_sha256 = models.CharField(max_length=64, db_index=True)
    pdf = models.BinaryField()
    pdf_sha256 = models.CharField(max_length=64)
    csv = models.TextField()
    csv_sha256 = models.CharField(max_length=64)
    json_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the JSON download (the canonical figures).")
    # "driftdesk-compliance/<schema> weasyprint/<version>": what produced the bytes.
    generator = models.CharField(max_length=200)
    generated_at = models.DateTimeField(default=timezone.now)
    generated_by_id = models.BigIntegerField(null=True, blank=True)
    generated_by_username = models.CharField(max_length=150, default="system")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.PAGE)
    material_degradation = models.BooleanField(help_text="Copied from the figures for lists and filters.")
    duration_seconds = models.FloatField(default=0.0)
    # The audit trail's chain head (compliance.chain) when the report was generated: later tampering with
    # any event up to it is detectable against this copy, which lives in an append-only row of its own.
    audit_chain_head = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-generated_at", "-id"]
        indexes = [models.Index(fields=["deployment", "period_start", "period_end"], name="report_period")]
        constraints = [
            models.CheckConstraint(condition=models.Q(period_end__gt=models.F("period_start")), name="report_period_order"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d} (#{self.pk})"

    @property
    def filename_stem(self) -> str:
        return f"driftdesk-{self.deployment.slug}-{self.period_start:%Y%m%d}-{self.period_end:%Y%m%d}-r{self.pk}"



class ReportJob(models.Model):
    """Report generation or verification running on a worker, with its progress for the page that polls it.

    Generating a nine-week report takes seconds (figures, PDF); the page answers at once and shows this
    job's progress until it is done, then the report or the verification's outcome.
    """

    class Kind(models.TextChoices):
        GENERATE = "generate", "Generate a report"
        VERIFY = "verify", "Verify a report"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="report_jobs")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # Generation: the report it made; verification: the report it checks.
    report = models.ForeignKey(ComplianceReport, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    step = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="The verification's outcome.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def working(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        return round(self.progress * 100)
