from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from . import partitions
from .embeddings import DIMENSIONS, MODEL_NAME


DEFAULT_TEAM_SLUG = "default"


class Team(models.Model):
    """Owns deployments; its members see those deployments and nothing of other teams' (404)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def default_team_id() -> int:
    """The team a deployment joins when none is named (made by migration drift_app.0006)."""
    team, _ = Team.objects.get_or_create(slug=DEFAULT_TEAM_SLUG, defaults={"name": "Default team"})
    return team.pk


class TeamMembership(models.Model):
    """A user's role in one team. Team admins manage the team's deployments and members."""

    class Role(models.TextChoices):
        POWER_USER = "power_user", "Power user"
        SME = "sme", "Subject-matter expert"
        COMPLIANCE = "compliance", "Compliance officer"
        ML_ENGINEER = "ml_engineer", "ML engineer"
        TEAM_ADMIN = "team_admin", "Team admin"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user", "role"], name="team_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} in {self.team}"


def validate_false_alarm_rate(value: float) -> None:
    """A rate whose calibration would exceed the replicate (memory and time) cap is refused.

    Each target gets half the rate (see services.drift.target_false_alarm_rate).
    """
    from django.core.exceptions import ValidationError

    from . import stats

    try:
        stats.check_false_alarm_rate(float(value) / 2)
    except ValueError as exc:
        raise ValidationError(f"drift_false_alarm_rate: {exc}") from None


class Deployment(models.Model):
    """A fine-tuned model in production, monitored by Driftdesk."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="deployments", default=default_team_id)

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
        default=0.01, validators=[MaxValueValidator(0.2), validate_false_alarm_rate],
        help_text="Target false-alarm rate used to calibrate drift thresholds on the baseline.",
    )
    prompt_template_strip = models.TextField(
        blank=True, default="",
        help_text="Regular expressions (one per line) removed from prompts before embedding: a shared system "
                  "preamble or RAG context would otherwise make different questions embed alike.",
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


def _stamp(value) -> dt.datetime | None:
    """A client_timestamp as the ORM would store it (it also takes ISO strings and naive datetimes)."""
    value = models.DateTimeField().to_python(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


class SampleQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # Samples live in monthly partitions (drift_app.partitions): a row's month must exist first.
        objs = list(objs)
        partitions.ensure(_stamp(o.client_timestamp) for o in objs)
        return super().bulk_create(objs, *args, **kwargs)


class ProductionSample(models.Model):
    """One prompt/response pair served by a deployment, as reported by the client.

    Stored in monthly partitions on client_timestamp (migration 0011): the database's primary key is
    (id, client_timestamp), ids stay unique through their sequence, and retention drops whole months.
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="samples")
    external_id = models.CharField(
        max_length=200,
        validators=[RegexValidator(r"^[^\x00]+$")],
        help_text="The client's id for this sample; unique per deployment, makes ingestion idempotent.",
    )
    # What users wrote: the part drift embeds. Traces that separate system and user messages (OTLP, Langfuse)
    # put the system/developer part in prompt_system, so a shared preamble never dominates the vectors.
    prompt = models.TextField()
    prompt_system = models.TextField(blank=True, default="", db_default="")
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
    # When an embedding task for this sample was last queued or started: the backfill claims only
    # samples whose claim is older than DRIFTDESK_EMBED_LEASE_SECONDS, so it never re-queues live work.
    embed_queued_at = models.DateTimeField(null=True, blank=True)

    objects = SampleQuerySet.as_manager()

    class Meta:
        constraints = [
            # A unique key of a partitioned table must include the partition key; external ids stay
            # unique per deployment whatever the timestamp through samples_ingest (it checks all months).
            models.UniqueConstraint(fields=["deployment", "external_id", "client_timestamp"],
                                    name="sample_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["deployment", "client_timestamp"], name="sample_deployment_time"),
            # The backfill looks for samples still without vectors.
            models.Index(
                fields=["received_at"], name="sample_unembedded",
                condition=models.Q(prompt_embedding__isnull=True),
            ),
            # The backfill's claim (UPDATE ... RETURNING) reads this small index, never the table.
            models.Index(
                fields=["embed_queued_at", "id"], name="sample_embed_claim",
                condition=models.Q(prompt_embedding__isnull=True),
            ),
            # The backfill's claim of samples embedded by another model (see services.samples).
            models.Index(fields=["embedding_model"], name="sample_embedding_model"),
            # The sample explorer's full-text search on prompt and response (feedback.filters): the same
            # expression as its query, so PostgreSQL answers it from this GIN index.
            GinIndex(SearchVector("prompt", "response", config="english"), name="sample_fulltext"),
            # No HNSW index on the sample vectors: no query looks for a sample's nearest neighbours (drift
            # statistics read whole windows; near-duplicate checks compare given pairs), and two HNSW
            # indexes cost every embedding write and every COPY. Golden items keep theirs (goldenset).
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug}:{self.external_id}"

    def save(self, *args, **kwargs):
        partitions.ensure([_stamp(self.client_timestamp)])
        super().save(*args, **kwargs)

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
    # Style rows (length, sentences, lists, code) of the pool's responses and the response-style
    # finding's calibration (drift_app.stats.style); null for baselines fitted before it existed.
    response_style_artifact = models.BinaryField(null=True, blank=True, editable=False)
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
    """Calibrated thresholds of one baseline for one target and false-alarm rate (a cache).

    One calibration covers every window size (a grid, see drift_app.stats.suite); ``window_size``
    is 0 for those. Rows with another size date from per-size calibration and are never read.
    """

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
        INCOMPLETE = "incomplete", "Incomplete (samples without vectors)"
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
    missing_count = models.PositiveIntegerField(
        default=0, help_text="Samples in the window without a vector of the baseline's model when the run was computed."
    )
    long_text_share = models.FloatField(
        null=True, blank=True, help_text="Share of the window's texts longer than the encoder's window (chunked and pooled)."
    )
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
    # Renewed by the computing worker's heartbeat; the reaper queues a run whose lease ran out again (worker lost).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    requeue_count = models.PositiveSmallIntegerField(
        default=0, help_text="Times the reaper queued the run again after its worker was lost (bounded).")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-window_start", "target"]
        indexes = [models.Index(fields=["deployment", "target", "window_start"], name="driftrun_window")]
        constraints = [
            # One live run per window and target: duplicate beats or API calls reuse it. A failed run
            # does not count, so the window can be retried.
            models.UniqueConstraint(
                fields=["deployment", "target", "window_start", "window_end"], name="driftrun_one_live_per_window",
                condition=~models.Q(status="failed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.slug} {self.target} {self.window_start:%Y-%m-%d %H:%M} ({self.status})"


class ApiKey(models.Model):
    """A personal API token or a per-deployment ingestion key. Only the SHA-256 of the secret is stored.

    The secret is 32 random bytes (shown once, at creation), so a plain SHA-256 cannot be brute-forced and
    lets authentication find the key by its hash in one indexed lookup. `prefix` (the secret's first
    characters) names a key in listings and revocations.
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal API token"
        INGESTION = "ingestion", "Ingestion key"

    class Scope(models.TextChoices):
        READ = "read", "Read (personal)"
        WRITE = "write", "Write (personal)"
        INGEST_SAMPLES = "ingest:samples", "Ingest samples"
        INGEST_FEEDBACK = "ingest:feedback", "Ingest feedback"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=20, choices=Scope.choices), default=list)
    # Personal: the user the token acts as. Ingestion: the ML engineer who made the key (it acts as nobody).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="ingestion_keys")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="personal", deployment__isnull=True)
                           | models.Q(kind="ingestion", deployment__isnull=False)),
                name="api_key_deployment_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.prefix}… ({self.name})"

    def usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
