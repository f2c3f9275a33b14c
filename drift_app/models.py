from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from .embeddings import DIMENSIONS, MODEL_NAME


class Deployment(models.Model):
    """A fine-tuned model in production, monitored by Driftdesk."""

    class Window(models.TextChoices):
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    current_model_version = models.CharField(max_length=200)
    drift_window = models.CharField(max_length=10, choices=Window.choices, default=Window.DAILY)

    # Thresholds. Defaults follow the field's seed values; drift thresholds are calibrated per baseline
    # at `drift_false_alarm_rate`, the seed bands stay visible beside them.
    drift_false_alarm_rate = models.FloatField(
        default=0.01, validators=[MinValueValidator(0.0001), MaxValueValidator(0.2)],
        help_text="Target false-alarm rate used to calibrate drift thresholds on the baseline.",
    )
    min_window_samples = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(20)],
        help_text="Windows with fewer samples end as insufficient_data.",
    )
    novel_share_alert = models.FloatField(
        default=0.30, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of prompts in never-seen clusters that triggers retraining advice (seed 30-40%).",
    )
    code_red_drop_pct = models.FloatField(
        default=15.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Relative golden pass-rate drop (percent) above which a code-red alert opens.",
    )
    review_drop_pct = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Relative drop (percent) above which an item joins the weekly review queue.",
    )
    material_drop_pct = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Relative drop from baseline accuracy (percent) counted as material degradation.",
    )
    quality_drift_pct = models.FloatField(
        default=15.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Reward/quality score drift (percent) that counts as drift (seed 15-20%).",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.current_model_version})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.review_drop_pct > self.code_red_drop_pct:
            raise ValidationError({"review_drop_pct": "must not exceed code_red_drop_pct"})


class ProductionSample(models.Model):
    """One prompt/response pair served by a deployment, as reported by the client."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="samples")
    external_id = models.CharField(
        max_length=200,
        validators=[RegexValidator(r"^[^\x00]+$")],
        help_text="The client's id for this sample; unique per deployment, makes ingestion idempotent.",
    )
    prompt = models.TextField()
    response = models.TextField()
    model_version = models.CharField(max_length=200)
    client_timestamp = models.DateTimeField(db_index=True, help_text="When the client served the answer.")
    received_at = models.DateTimeField(default=timezone.now)
    metadata = models.JSONField(default=dict, blank=True)
    # Label-free quality scores sent with the sample, {name: number} (e.g. {"reward": 0.82, "thumbs": -1});
    # drifted per window by drift_app.selectors.quality_evidence.
    scores = models.JSONField(default=dict, blank=True)

    # Vectors from `embedding_model`; vectors of two models are never compared.
    prompt_embedding = VectorField(dimensions=DIMENSIONS, null=True, blank=True)
    response_embedding = VectorField(dimensions=DIMENSIONS, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "external_id"], name="sample_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["deployment", "client_timestamp"], name="sample_deployment_time"),
            # The backfill looks for samples still without vectors.
            models.Index(
                fields=["received_at"], name="sample_unembedded",
                condition=models.Q(prompt_embedding__isnull=True),
            ),
            # Cosine, not L2: the encoder's output is L2-normalised, so the HNSW index uses vector_cosine_ops.
            HnswIndex(
                name="sample_prompt_hnsw", fields=["prompt_embedding"],
                m=16, ef_construction=64, opclasses=["vector_cosine_ops"],
            ),
            HnswIndex(
                name="sample_response_hnsw", fields=["response_embedding"],
                m=16, ef_construction=64, opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug}:{self.external_id}"

    @property
    def is_embedded(self) -> bool:
        return self.prompt_embedding is not None and self.embedding_model == MODEL_NAME


class Baseline(models.Model):
    """The reference period a deployment's windows are compared with.

    Frozen once fitted: the artifacts (PCA, codebook, held-out vectors, per target) and the list of
    samples never change afterwards; a new reference means a new Baseline.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FITTED = "fitted", "Fitted"
        FAILED = "failed", "Failed"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="baselines")
    embedding_model = models.CharField(max_length=200, default=MODEL_NAME)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    max_samples = models.PositiveIntegerField(default=50_000, validators=[MinValueValidator(200), MaxValueValidator(200_000)])
    sample_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    sample_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    is_active = models.BooleanField(default=False, help_text="The baseline new windows are compared with.")
    prompt_artifact = models.BinaryField(null=True, blank=True, editable=False)
    response_artifact = models.BinaryField(null=True, blank=True, editable=False)
    seed = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    fitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["deployment"], condition=models.Q(is_active=True), name="one_active_baseline"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug} baseline {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"

    @property
    def frozen(self) -> bool:
        return self.status == self.Status.FITTED


class BaselineCalibration(models.Model):
    """Calibrated thresholds of one baseline for one window size, target and false-alarm rate (a cache)."""

    baseline = models.ForeignKey(Baseline, on_delete=models.CASCADE, related_name="calibrations")
    target = models.CharField(max_length=10)
    window_size = models.PositiveIntegerField()
    false_alarm_rate = models.FloatField()
    artifact = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["baseline", "target", "window_size", "false_alarm_rate"], name="calibration_unique"
            ),
        ]


class DriftRun(models.Model):
    """The drift statistics of one window of one deployment, for prompts or for responses."""

    class Target(models.TextChoices):
        PROMPTS = "prompts", "Prompts (covariate shift)"
        RESPONSES = "responses", "Responses (output drift)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        INSUFFICIENT_DATA = "insufficient_data", "Insufficient data"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        COMMAND = "command", "Command"
        DEMO = "demo", "Demo"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="drift_runs")
    baseline = models.ForeignKey(Baseline, on_delete=models.RESTRICT, related_name="drift_runs")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    target = models.CharField(max_length=10, choices=Target.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.API)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    sample_count = models.PositiveIntegerField(default=0)
    evaluated_count = models.PositiveIntegerField(default=0, help_text="Vectors evaluated (windows are capped).")
    drifted = models.BooleanField(null=True)
    # Each statistic: {"statistic", "threshold", "p_value", "drifted", "seed_threshold"}; see drift_app.stats.
    results = models.JSONField(default=dict, blank=True)
    combined = models.JSONField(default=dict, blank=True)
    topics = models.JSONField(default=list, blank=True)
    # Denormalised for charts and filters.
    js = models.FloatField(null=True, blank=True)
    js_threshold = models.FloatField(null=True, blank=True)
    wasserstein = models.FloatField(null=True, blank=True)
    mmd_p_value = models.FloatField(null=True, blank=True)
    novel_share = models.FloatField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-window_start", "target"]
        indexes = [models.Index(fields=["deployment", "target", "window_start"], name="driftrun_window")]

    def __str__(self) -> str:
        return f"{self.deployment.slug} {self.target} {self.window_start:%Y-%m-%d %H:%M} ({self.status})"
