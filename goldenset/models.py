"""The golden set: SME-curated items, immutable versions, evaluation runs and their results.

Each team has its own golden set (items, versions, runs, reviews and calibration labels of one team are
never seen or evaluated by another); a deployment is evaluated against the latest version of its team's set.
A deployment's baseline is the EvalRun with is_baseline=True
(at most one per deployment, enforced by a partial unique constraint).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from drift_app import outbound
from drift_app.embeddings import DIMENSIONS
from drift_app.models import Deployment, ProductionSample, Team, default_team_id
from drift_app.stats.scoring import DEFAULT_ALIGNMENT_THRESHOLD, DEFAULT_SIMILARITY_THRESHOLD


class ImmutableError(Exception):
    pass


class GoldenItem(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        RETIRED = "retired", "Retired"

    class Source(models.TextChoices):
        AUTHORED = "authored", "Authored"
        FLAG = "flag", "Promoted from a flag"
        IMPORTED = "imported", "Imported"

    # The team whose golden set this item belongs to (deployments of other teams never see or use it).
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="golden_items", default=default_team_id)
    prompt = models.TextField()
    reference_answer = models.TextField()
    category = models.CharField(max_length=100, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    # {"must_include": [...], "must_not_include": [...], "regex": "..."}; see scoring.check_acceptance.
    acceptance = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AUTHORED)
    # Evidence is never removed: a sample promoted into the golden set stays. No database constraint:
    # samples are partitioned by month (see feedback.models.Flag.sample); a trigger checks the sample exists.
    source_sample = models.ForeignKey(
        ProductionSample, on_delete=models.PROTECT, null=True, blank=True, related_name="golden_items",
        db_constraint=False,
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="golden_authored")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="golden_approved"
    )
    revision = models.PositiveIntegerField(default=1)
    # sha256 of the prompt and answer text an SME acknowledged as containing acceptable PII.
    pii_ack_digest = models.CharField(max_length=64, blank=True, default="")

    prompt_embedding = VectorField(dimensions=DIMENSIONS, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            # Four eyes, also in the database: the approver is never the author.
            models.CheckConstraint(
                condition=models.Q(approver__isnull=True) | ~models.Q(approver=models.F("author")),
                name="golden_approver_is_not_author",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=["authored", "flag", "imported"]), name="golden_source_valid"
            ),
        ]
        indexes = [
            # Cosine: the encoder's output is L2-normalised; used for near-duplicates and coverage gaps.
            HnswIndex(name="golden_prompt_hnsw", fields=["prompt_embedding"], m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:60]}"


class GoldenItemEvent(models.Model):
    """One change to an item, with who, why and a snapshot of the content after it (the history)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Edited"
        SUBMITTED = "submitted", "Submitted for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RETIRED = "retired", "Retired"
        PII_ACKNOWLEDGED = "pii_ack", "PII acknowledged"

    item = models.ForeignKey(GoldenItem, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=12, choices=Action.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class _ImmutableModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} rows are immutable once stored")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{type(self).__name__} rows are never deleted")


class GoldenSetVersion(_ImmutableModel):
    """An immutable snapshot of the approved items, made by every approval or retirement."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="golden_versions", default=default_team_id)
    # Numbered 1, 2, 3... within the team's golden set.
    number = models.PositiveIntegerField()
    # sha256 over the canonical JSON of the approved items (id, prompt, reference, category, tags,
    # acceptance), sorted by id: two versions with the same content have the same hash.
    content_hash = models.CharField(max_length=64, db_index=True)
    item_count = models.PositiveIntegerField()
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["team", "number"], name="golden_version_number_per_team")]

    def __str__(self) -> str:
        return f"v{self.number} ({self.content_hash[:12]})"


class GoldenSetVersionItem(_ImmutableModel):
    version = models.ForeignKey(GoldenSetVersion, on_delete=models.PROTECT, related_name="items")
    item = models.ForeignKey(GoldenItem, on_delete=models.PROTECT, related_name="version_entries")
    revision = models.PositiveIntegerField()
    prompt = models.TextField()
    reference_answer = models.TextField()
    category = models.CharField(max_length=100)
    tags = models.JSONField(default=list)
    acceptance = models.JSONField(default=dict)
    item_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["item_id"]
        constraints = [models.UniqueConstraint(fields=["version", "item"], name="golden_version_item_unique")]


class EvalConfig(models.Model):
    """How a deployment is evaluated: its OpenAI-compatible endpoint, scorer settings, schedule."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="golden_eval_config")
    endpoint_base_url = models.URLField(blank=True, help_text="e.g. https://llm.internal/v1 (POST …/chat/completions).")
    endpoint_model = models.CharField(max_length=200, blank=True)
    # The key itself is never stored: only the name of the environment variable holding it.
    api_key_env = models.CharField(max_length=100, blank=True, help_text="Environment variable with the API key.")
    timeout_s = models.FloatField(default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(600)])
    max_retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(10)])
    concurrency = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(1), MaxValueValidator(64)])
    similarity_threshold = models.FloatField(
        default=DEFAULT_SIMILARITY_THRESHOLD, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Cosine similarity to the reference at or above which an answer passes (see goldenset/README.md).",
    )
    alignment_threshold = models.FloatField(
        default=DEFAULT_ALIGNMENT_THRESHOLD, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Sentence coverage or support at or above which an answer carries the reference's content.",
    )
    combination_rule = models.CharField(
        max_length=40, default="judge-authoritative",
        help_text="How scorer outcomes combine (goldenset/scorers.py RULES); stored on every run.",
    )
    judge_enabled = models.BooleanField(default=False)
    judge_model = models.CharField(max_length=200, blank=True, help_text="Model name for the LLM judge (same endpoint).")
    judge_min_kappa = models.FloatField(
        default=0.6, validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="Cohen's kappa against SMEs below which the judge is shown as uncalibrated.",
    )
    schedule_cron = models.CharField(
        max_length=100, blank=True, default="",
        help_text="Crontab 'minute hour day-of-month month day-of-week' (e.g. '0 3 * * *'); empty: no schedule.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def has_endpoint(self) -> bool:
        return bool(self.endpoint_base_url and self.endpoint_model)

    def clean(self) -> None:
        # Outbound checks (drift_app/outbound.py): an allowed host, and a key variable with the configured
        # prefix, so an edited configuration cannot send SECRET_KEY (or anything else) anywhere.
        problem = self.endpoint_base_url and outbound.url_problem(self.endpoint_base_url)
        if problem:
            raise ValidationError({"endpoint_base_url": f"endpoint_base_url {problem}"})
        problem = self.api_key_env and outbound.key_env_problem(self.api_key_env)
        if problem:
            raise ValidationError({"api_key_env": f"api_key_env {problem}"})

        from .scorers import RULES

        if self.combination_rule not in RULES:
            raise ValidationError({"combination_rule": f"unknown rule; choose one of: {', '.join(RULES)}"})
        if self.judge_enabled and not (self.has_endpoint and self.judge_model):
            raise ValidationError({"judge_model": "the judge needs an endpoint and a judge model"})
        if self.schedule_cron:
            parts = self.schedule_cron.split()
            if len(parts) != 5:
                raise ValidationError({"schedule_cron": "must have five fields: minute hour day-of-month month day-of-week"})
            if not self.has_endpoint:
                raise ValidationError({"schedule_cron": "a schedule needs an endpoint (base URL and model)"})


class EvalRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class AnswerSource(models.TextChoices):
        ENDPOINT = "endpoint", "Model endpoint"
        UPLOADED = "uploaded", "Uploaded answers"

    class Trigger(models.TextChoices):
        API = "api", "API"
        PAGE = "page", "Page"
        COMMAND = "command", "Management command"
        SCHEDULE = "schedule", "Schedule"
        DEMO = "demo", "Demo"
        QUALITY = "quality", "Quality-score drop"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="golden_runs")
    model_version = models.CharField(max_length=200)
    golden_version = models.ForeignKey(GoldenSetVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    answer_source = models.CharField(max_length=10, choices=AnswerSource.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.API)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Scorer settings pinned at creation so a later config change never rewrites history.
    similarity_threshold = models.FloatField()
    judge_model = models.CharField(max_length=200, blank=True)
    judge_prompt_version = models.CharField(max_length=50, blank=True)
    endpoint_model = models.CharField(max_length=200, blank=True)
    combination_rule = models.CharField(max_length=40, blank=True, help_text="Empty: scored before rules were recorded.")
    # goldenset.scorers.scorer_config(): rule, scorer versions, thresholds, judge model. A run is compared
    # only with a baseline whose configuration is equal; otherwise comparison_refused says why.
    scorer_config = models.JSONField(default=dict, blank=True)
    comparison_refused = models.TextField(blank=True)

    item_count = models.PositiveIntegerField(default=0)
    passed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    errored_count = models.PositiveIntegerField(default=0)
    pass_rate = models.FloatField(null=True, blank=True, help_text="passed / (passed + failed); errored items excluded.")
    # {category: pass_rate}; counts in category_counts {category: {"passed": n, "scored": m}}.
    category_pass_rates = models.JSONField(default=dict, blank=True)
    category_counts = models.JSONField(default=dict, blank=True)
    is_baseline = models.BooleanField(default=False)
    baseline_run = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    relative_drop_pct = models.FloatField(null=True, blank=True)
    regressed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Uploaded answers may have been produced long before they were uploaded (traffic imported after the
    # fact): verdicts judge a run's freshness by this time when it is set, else by finished_at.
    answers_produced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the uploaded answers were produced by the model (uploaded runs only).",
    )
    # Scheduled runs: the cron tick they evaluate (one live run per deployment, model version and tick).
    schedule_tick = models.DateTimeField(null=True, blank=True)
    # Renewed by the worker's heartbeat thread while it runs: a RUNNING run with a fresh heartbeat is owned by a
    # live worker; the reaper queues one whose heartbeat is older than the lease again (bounded).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    requeue_count = models.PositiveSmallIntegerField(
        default=0, help_text="Times the reaper queued the run again after its worker was lost (bounded).")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["deployment"], condition=models.Q(is_baseline=True),
                                    name="golden_one_baseline_per_deployment"),
            models.UniqueConstraint(
                fields=["deployment", "model_version", "schedule_tick"], name="golden_one_live_run_per_tick",
                condition=models.Q(schedule_tick__isnull=False) & ~models.Q(status="failed"),
            ),
        ]
        indexes = [models.Index(fields=["deployment", "-created_at"], name="golden_run_deployment_time")]

    def __str__(self) -> str:
        return f"run {self.pk} {self.deployment.slug} {self.model_version}"

    @property
    def regressed(self) -> int:
        return self.regressed_count


class EvalResult(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERRORED = "errored", "Errored"

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    version_item = models.ForeignKey(GoldenSetVersionItem, on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(GoldenItem, on_delete=models.PROTECT, related_name="eval_results")
    answer = models.TextField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    score = models.FloatField(null=True, blank=True)
    exact_match = models.BooleanField(null=True)
    similarity = models.FloatField(null=True, blank=True)
    acceptance_ok = models.BooleanField(null=True)
    acceptance_problems = models.JSONField(default=list, blank=True)
    # Every registered scorer's outcome by name: {"semantic": {"status", "reason", "score", "details"}, ...}
    scorer_outcomes = models.JSONField(default=dict, blank=True)
    judge_passed = models.BooleanField(null=True)
    judge_score = models.FloatField(null=True, blank=True)
    judge_rationale = models.TextField(blank=True)
    judge_model = models.CharField(max_length=200, blank=True)
    judge_prompt_version = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    regressed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-regressed", "outcome", "item_id"]
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="golden_result_run_item_unique")]


class JudgeCalibrationLabel(models.Model):
    """An SME's own pass/fail on an item the LLM judge graded: the judge's agreement with people.

    Append-only (one label per SME and result; a change of mind is a new label after deleting nothing:
    the service refuses a second label by the same SME). The judge model and rubric version are copied
    from the result so that a new judge starts a new series.
    """

    result = models.ForeignKey(EvalResult, on_delete=models.PROTECT, related_name="calibration_labels")
    labelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    passed = models.BooleanField()
    note = models.TextField(blank=True)
    judge_model = models.CharField(max_length=200)
    judge_prompt_version = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["result", "labelled_by"], name="judge_label_one_per_sme")]
