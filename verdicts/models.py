"""Verdicts (genuine degradation or benign change, per deployment and window) and the alerts they open.

The compliance reports read these models: keep the names and fields stable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from drift_app import outbound
from drift_app.models import Deployment
from drift_app.stats import verdict_rules as rules


class VerdictClass(models.TextChoices):
    GENUINE_DEGRADATION = rules.GENUINE_DEGRADATION, "Genuine degradation"
    BENIGN_CHANGE = rules.BENIGN_CHANGE, "Benign change"
    STABLE = rules.STABLE, "Stable"
    INSUFFICIENT_EVIDENCE = rules.INSUFFICIENT_EVIDENCE, "Insufficient evidence"


class AlertPolicy(models.Model):
    """Per-deployment alert settings. The tier thresholds themselves live on Deployment
    (code_red_drop_pct, review_drop_pct, material_drop_pct, novel_share_alert); a deployment without a
    row uses the defaults below."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="alert_policy")
    code_red_open_after = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="Consecutive code-red windows before a code-red alert opens.",
    )
    review_open_after = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="Consecutive windows at or above the review threshold before a review item opens.",
    )
    close_after = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="Consecutive clean windows after which an open alert closes by itself.",
    )
    flag_alpha = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
        help_text="Significance level of the one-sided two-proportion test on the confirmed-bad rate.",
    )
    golden_max_age_days = models.FloatField(
        default=7.0, validators=[MinValueValidator(0.0), MaxValueValidator(365.0)],
        help_text="A golden evaluation finished this many days before a window starts still counts for it.",
    )
    golden_alpha = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
        help_text="Significance level of the exact one-sided McNemar test on the golden drop.",
    )
    golden_max_error_share = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="An evaluation with a larger share of errored items is incomplete evidence, not a pass.",
    )
    flag_pending_max_share = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="While a larger share of the window's flags awaits labels, flag evidence is pending.",
    )
    recompute_windows = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(0), MaxValueValidator(52)],
        help_text="Past windows the hourly job recomputes, so late labels, evaluations and drift runs count.",
    )
    retrain_js_windows = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="Retraining advice when prompt JS stays above its threshold this many windows (golden set stable).",
    )
    alert_emails = models.TextField(
        blank=True, help_text="Comma-separated addresses for code-red e-mails; empty: DRIFTDESK_ALERT_EMAILS.",
    )
    webhook_url = models.URLField(
        blank=True, help_text="Slack-compatible incoming webhook for code red; empty: DRIFTDESK_ALERT_WEBHOOK_URL.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "alert policies"

    def __str__(self) -> str:
        return f"Alert policy of {self.deployment.slug}"

    def clean(self) -> None:
        # Outbound allowlist (drift_app/outbound.py): refuse at save time, not only when an alert fires.
        problem = self.webhook_url and outbound.url_problem(self.webhook_url)
        if problem:
            raise ValidationError({"webhook_url": f"webhook_url {problem}"})


class Verdict(models.Model):
    """What happened to one deployment in one window, with the evidence and a plain-language reason."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="verdicts")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    verdict_class = models.CharField(max_length=30, choices=VerdictClass.choices)
    # Everything the verdict was computed from: golden run ids and rates, flag counts and test,
    # drift run ids and statistics, thresholds. See services.verdict_compute.
    inputs = models.JSONField(default=dict)
    explanation = models.TextField()
    golden_pass_rate = models.FloatField(null=True, blank=True)
    baseline_pass_rate = models.FloatField(null=True, blank=True)
    relative_drop_pct = models.FloatField(null=True, blank=True)
    material_degradation = models.BooleanField(default=False)
    prompt_drift = models.BooleanField(null=True)
    response_drift = models.BooleanField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # A recomputation that changes the verdict (late labels, evaluations, drift runs) keeps the earlier
    # verdict as a superseded version: nothing is overwritten silently.
    version = models.PositiveIntegerField(default=1)
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-window_start"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "window_start", "window_end"], condition=models.Q(superseded_at__isnull=True),
                                    name="verdict_one_current_per_window"),
            models.CheckConstraint(condition=models.Q(window_end__gt=models.F("window_start")), name="verdict_window_order"),
        ]
        indexes = [models.Index(fields=["deployment", "window_start"], name="verdict_deployment_window")]

    def __str__(self) -> str:
        return f"{self.deployment.slug} {self.window_start:%Y-%m-%d}: {self.verdict_class}"

    @property
    def golden_tier(self) -> str | None:
        return (self.inputs.get("golden") or {}).get("tier")


class Alert(models.Model):
    class Signal(models.TextChoices):
        GOLDEN_PASS_RATE = "golden_pass_rate", "Golden pass rate"
        CONFIRMED_BAD_RATE = "confirmed_bad_rate", "Confirmed-bad flag rate"

    class Tier(models.TextChoices):
        CODE_RED = rules.CODE_RED, "Code red"
        REVIEW = rules.REVIEW, "Weekly review"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="alerts")
    signal = models.CharField(max_length=30, choices=Signal.choices)
    tier = models.CharField(max_length=10, choices=Tier.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=300)
    opened_at = models.DateTimeField(default=timezone.now)
    # The window whose verdict opened the alert (reports list alerts by the window they concern;
    # opened_at is only when it was computed).
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    opened_by_verdict = models.ForeignKey(Verdict, on_delete=models.PROTECT, related_name="opened_alerts")
    last_verdict = models.ForeignKey(Verdict, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    # The tier the notifications went out for: a redelivered task never notifies twice.
    notified_tier = models.CharField(max_length=10, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_comment = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_comment = models.TextField(blank=True)
    # Set when the alert stops being open: resolved by a user or closed by hysteresis (resolved_by empty).
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open alert per deployment and signal; acknowledged alerts are still open.
            models.UniqueConstraint(
                fields=["deployment", "signal"], condition=models.Q(closed_at__isnull=True), name="alert_one_open_per_signal"
            ),
            models.CheckConstraint(
                condition=models.Q(status="resolved", closed_at__isnull=False) | (~models.Q(status="resolved") & models.Q(closed_at__isnull=True)),
                name="alert_resolved_iff_closed",
            ),
        ]
        indexes = [models.Index(fields=["deployment", "status"], name="alert_deployment_status")]

    def __str__(self) -> str:
        return f"{self.get_tier_display()} {self.deployment.slug} {self.signal} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AlertDelivery(models.Model):
    """One notification attempt (the delivery log)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=1000)
    attempt = models.PositiveSmallIntegerField(default=1)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "alert deliveries"


class RetrainingAdvice(models.Model):
    """New topics (or lasting prompt drift) with the golden set stable: curate fine-tuning data."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="retraining_advice")
    verdict = models.OneToOneField(Verdict, on_delete=models.CASCADE, related_name="retraining_advice")
    created_at = models.DateTimeField(default=timezone.now)
    # Each topic as the drift run described it: size, share, keywords, representative_texts, sample_ids.
    topics = models.JSONField(default=list)
    reason = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "retraining advice"

    def __str__(self) -> str:
        return f"Retraining advice for {self.deployment.slug} ({self.created_at:%Y-%m-%d})"

    @property
    def sample_ids(self) -> list[int]:
        seen: list[int] = []
        for topic in self.topics:
            seen.extend(i for i in topic.get("sample_ids", []) if i not in seen)
        return seen
