"""Human feedback: power users flag answers, SMEs label the flags, confirmed problems become golden items.

Lineage lives here (Promotion: flag -> golden item -> sample) so goldenset never depends on feedback.
Every foreign key to a ProductionSample is PROTECT: a sample that is evidence is never removed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from drift_app.models import Deployment, ProductionSample


class Reason(models.TextChoices):
    INCORRECT = "incorrect", "Incorrect"
    OUTDATED = "outdated", "Outdated"
    HARMFUL = "harmful", "Harmful"
    UNHELPFUL = "unhelpful", "Unhelpful"
    OTHER = "other", "Other"


# Triage priority weight of each reason: harm first, wrong facts next, taste last.
REASON_SEVERITY = {
    Reason.HARMFUL: 5,
    Reason.INCORRECT: 4,
    Reason.OUTDATED: 3,
    Reason.UNHELPFUL: 2,
    Reason.OTHER: 1,
}


class LabelChoice(models.TextChoices):
    CONFIRMED_BAD = "confirmed_bad", "Confirmed bad"
    NOT_A_PROBLEM = "not_a_problem", "Not a problem"
    OUTDATED_KNOWLEDGE = "outdated_knowledge", "Outdated knowledge (concept drift)"
    POLICY_VIOLATION = "policy_violation", "Policy violation"


# Final labels that mean "the flag was right": these may be promoted into the golden set.
CONFIRMED_LABELS = (LabelChoice.CONFIRMED_BAD, LabelChoice.OUTDATED_KNOWLEDGE, LabelChoice.POLICY_VIOLATION)
# Counted by the confirmed-bad rate: the answer itself is wrong or not allowed (genuine degradation).
# Outdated knowledge is counted apart: the world moved, the model did not (concept drift).
BAD_VERDICTS = (LabelChoice.CONFIRMED_BAD, LabelChoice.POLICY_VIOLATION)


def validate_score_thresholds(value) -> None:
    """{score name: finite number}: the thresholds under which a tracing tool's score flags an answer."""
    import math

    from django.core.exceptions import ValidationError

    if not isinstance(value, dict):
        raise ValidationError('must be a JSON object of score name: threshold, e.g. {"helpfulness": 0.5}')
    for name, threshold in value.items():
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ValidationError(f"the threshold of {str(name)[:50]!r} must be a finite number")


class DeploymentFeedbackSettings(models.Model):
    """Per-deployment feedback settings; a deployment without a row uses the field defaults."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="feedback_settings")
    overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="How many SMEs label each flag. Above 1, agreement is measured and disagreements adjudicated.",
    )
    claim_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(240)],
        help_text="How long a claim locks a flag for one SME.",
    )
    # Scores sent by tracing tools (Langfuse/Opik scores, Phoenix annotations; feedback/integrations.py):
    # a numeric score named here below its threshold flags the answer for SME triage.
    score_flag_thresholds = models.JSONField(
        default=dict, blank=True, validators=[validate_score_thresholds],
        help_text='{score name: threshold}, e.g. {"helpfulness": 0.5}: a tool\'s score below it becomes a flag.',
    )

    class Meta:
        verbose_name = "deployment feedback settings"
        verbose_name_plural = "deployment feedback settings"

    def __str__(self) -> str:
        return f"Feedback settings for {self.deployment.slug}"


class Flag(models.Model):
    """A power user's report that one answer is bad."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"  # waiting for SME labels
        ADJUDICATION = "adjudication", "Needs adjudication"  # labels disagree
        RESOLVED = "resolved", "Resolved"  # final label set

    # No database constraint: samples are partitioned by month, and PostgreSQL only lets a foreign key
    # point at a partitioned table through a key that includes the partition key. Integrity is kept by
    # the trigger of migration feedback 0002 (the sample must exist) and by PROTECT plus retention,
    # which never removes a referenced sample (drift_app.services.retention).
    sample = models.ForeignKey(ProductionSample, on_delete=models.PROTECT, related_name="flags", db_constraint=False)
    # Denormalised from the sample: every queue and metric filters by deployment.
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="flags")
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flags")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Copied from the deployment's settings when flagged, so changing the setting never reopens old flags.
    required_labels = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    final_label = models.CharField(max_length=30, choices=LabelChoice.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    # The claim: while claimed_until is in the future only claimed_by may label or adjudicate.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "flagged_by"], name="flag_one_per_user_and_sample"),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | ~models.Q(final_label=""),
                name="flag_resolved_has_final_label",
            ),
        ]
        indexes = [
            models.Index(fields=["deployment", "status"], name="flag_deployment_status"),
        ]

    def __str__(self) -> str:
        return f"Flag {self.pk} on {self.sample_id} ({self.reason})"

    @property
    def severity(self) -> int:
        return REASON_SEVERITY[self.reason]

    @property
    def is_confirmed(self) -> bool:
        return self.status == self.Status.RESOLVED and self.final_label in CONFIRMED_LABELS

    def claim_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.claimed_by_id is not None and self.claimed_until is not None and self.claimed_until > now


class Label(models.Model):
    """One SME's independent reading of a flag."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="labels")
    sme = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flag_labels")
    label = models.CharField(max_length=30, choices=LabelChoice.choices)
    comment = models.TextField(blank=True)
    corrected_answer = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["flag", "sme"], name="label_one_per_sme_and_flag"),
        ]

    def __str__(self) -> str:
        return f"{self.label} by {self.sme_id} on flag {self.flag_id}"


class Adjudication(models.Model):
    """The final word on a flag whose labels disagree; its label wins."""

    flag = models.OneToOneField(Flag, on_delete=models.CASCADE, related_name="adjudication")
    adjudicator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=30, choices=LabelChoice.choices)
    comment = models.TextField()
    corrected_answer = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.label} (adjudicated) on flag {self.flag_id}"


class Promotion(models.Model):
    """Lineage: a confirmed flag became a golden item, built from this sample."""

    flag = models.OneToOneField(Flag, on_delete=models.PROTECT, related_name="promotion")
    golden_item = models.OneToOneField("goldenset.GoldenItem", on_delete=models.PROTECT, related_name="+")
    # No database constraint, as Flag.sample (samples are partitioned by month).
    sample = models.ForeignKey(ProductionSample, on_delete=models.PROTECT, related_name="promotions",
                               db_constraint=False)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"Flag {self.flag_id} -> golden item {self.golden_item_id}"


class PendingToolFeedback(models.Model):
    """A tracing tool's score or annotation that arrived before the trace it points at (SDKs flush scores and
    traces on separate queues, so a score can win the race). Held for DRIFTDESK_PENDING_FEEDBACK_SECONDS, at
    most DRIFTDESK_PENDING_FEEDBACK_MAX per deployment, and applied when a sample of its trace is stored
    (feedback.integrations.pending_feedback_apply); the flag or score it then makes is audited as usual."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="+")
    # The key that sent it: the flag is made by its owner, with its scopes, as if the trace had been there.
    key = models.ForeignKey("drift_app.ApiKey", on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=200, null=True, blank=True)
    comment = models.TextField(blank=True)
    trace_id = models.CharField(max_length=200, blank=True)
    span_id = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["deployment", "trace_id"], name="pending_feedback_trace"),
            models.Index(fields=["deployment", "span_id"], name="pending_feedback_span"),
            models.Index(fields=["expires_at"], name="pending_feedback_expiry"),
        ]

    def __str__(self) -> str:
        return f"Pending {self.tool} score {self.name!r} for trace {self.trace_id or '-'} span {self.span_id or '-'}"
