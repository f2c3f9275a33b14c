"""Feedback in the shapes tracing tools send it: Langfuse/Opik scores and Phoenix span annotations.

One rule for all of them (`tool_feedback_apply`):
- a negative verdict (a thumbs-down: boolean false, a categorical label such as "thumbs_down", "bad",
  "incorrect", or a numeric score named like "thumbs"/"user_feedback" at or below 0) or a numeric score below
  the deployment's threshold for that name (DeploymentFeedbackSettings.score_flag_thresholds) becomes a
  bad-answer flag on the matching sample, open for SME triage like any flag;
- every numeric score (booleans as 0/1) also rides along as a sample score (ProductionSample.scores), which
  the label-free quality evidence drifts per window.

Flags made this way are flagged by the ingestion key's owner (the person who answers for the key) and say
in their comment which tool score made them; like every flag they are audited (compliance.audit.TRACKED).
One flag per sample and key owner: a second negative score on the same answer changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from drift_app import selectors as core_selectors
from drift_app import services as core_services
from drift_app.models import ApiKey, Deployment, ProductionSample
from drift_app.signals import samples_created
from drift_app.validation import parse_scores

from . import selectors
from .models import Flag, PendingToolFeedback, Reason

logger = logging.getLogger(__name__)

NEGATIVE_LABELS = {"thumbs_down", "thumbs-down", "thumbsdown", "negative", "bad", "incorrect", "wrong", "no",
                   "false", "unhelpful", "hallucinated", "hallucination", "toxic", "harmful", "👎", "-1"}
_THUMBS_NAME = re.compile(r"thumb|user[_ -]?feedback|user[_ -]?rating", re.IGNORECASE)
_SCORE_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ToolFeedbackError(ValueError):
    """One feedback item that cannot be applied; `status` is its HTTP status, the message names the field."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class ToolFeedback:
    """One score or annotation, whatever tool sent it."""

    tool: str  # "langfuse", "opik", "phoenix"
    name: str
    value: float | None  # numeric (booleans as 0/1)
    label: str | None  # categorical
    comment: str
    trace_id: str | None
    span_id: str | None


@dataclass(frozen=True)
class Applied:
    sample_id: int | None  # None while held, waiting for its trace
    flag_id: int | None
    flagged: bool
    scores: dict
    pending_id: int | None = None




def score_name(name: str) -> str:
    """A tool's score name as a Driftdesk score name (letters, digits, _ . -; starts with a letter)."""
    cleaned = _SCORE_NAME_SAFE.sub("_", name.strip()).strip("_")[:50]
    return cleaned if cleaned[:1].isalpha() else f"s_{cleaned}"[:50]


def _is_negative(fb: ToolFeedback, thresholds: dict) -> tuple[bool, str]:
    if fb.label is not None and fb.label.strip().lower() in NEGATIVE_LABELS:
        return True, f"label {fb.label!r}"
    if fb.value is not None:
        threshold = thresholds.get(fb.name, thresholds.get(score_name(fb.name)))
        if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and fb.value < threshold:
            return True, f"{fb.value:g} below the deployment's threshold {threshold:g}"
        if _THUMBS_NAME.search(fb.name) and fb.value <= 0:
            return True, f"thumbs {fb.value:g}"
    return False, ""


def find_sample(*, deployment: Deployment, fb: ToolFeedback) -> ProductionSample:
    sample = core_selectors.sample_for_trace(deployment=deployment, trace_id=fb.trace_id or "", span_id=fb.span_id)
    if sample is None:
        where = " ".join(x for x in (f"trace {fb.trace_id}" if fb.trace_id else "",
                                     f"span {fb.span_id}" if fb.span_id else "") if x)
        raise ToolFeedbackError(f"no sample of deployment {deployment.slug} comes from {where or 'no trace'} "
                                "(send the trace before its scores)", status=404)
    return sample


def _check(fb: ToolFeedback) -> None:
    if not fb.name.strip():
        raise ToolFeedbackError("name: is required")
    if fb.value is None and fb.label is None:
        raise ToolFeedbackError("value: a number, a boolean or a label is required")
    if fb.value is not None and not math.isfinite(fb.value):
        raise ToolFeedbackError("value: must be a finite number")
    if "\x00" in fb.comment or "\x00" in fb.name or (fb.label and "\x00" in fb.label):
        raise ToolFeedbackError("name, label and comment must not contain NUL characters")
    if len(fb.name) > 200 or (fb.label and len(fb.label) > 200):
        raise ToolFeedbackError("name and label must be at most 200 characters")
    if fb.value is not None:
        _, problems = parse_scores({score_name(fb.name): fb.value})
        if problems:
            raise ToolFeedbackError(f"{problems[0].field}: {problems[0].problem}")


@transaction.atomic
def tool_feedback_apply(*, key: ApiKey, fb: ToolFeedback, hold: bool = True) -> Applied:
    """Apply one tool score or annotation to the sample it points at (see the module's rule).

    When no sample of its trace exists yet, it is held (`pending_feedback_hold`) and applied on the trace's
    arrival, unless `hold` is False or holding is off or full (then the 404 names the trace).
    """
    if ApiKey.Scope.INGEST_FEEDBACK not in key.scopes:
        raise ToolFeedbackError(f"this ingestion key lacks the scope {ApiKey.Scope.INGEST_FEEDBACK!r}", status=403)
    _check(fb)
    deployment = key.deployment
    try:
        sample = find_sample(deployment=deployment, fb=fb)
    except ToolFeedbackError as exc:
        if not hold or exc.status != 404 or not (fb.trace_id or fb.span_id):
            raise
        return pending_feedback_hold(key=key, fb=fb, not_found=exc)
    return _apply_to(sample=sample, key=key, fb=fb)


def _apply_to(*, sample: ProductionSample, key: ApiKey, fb: ToolFeedback) -> Applied:
    deployment = key.deployment
    scores = sample.scores
    if fb.value is not None:
        parsed, _ = parse_scores({score_name(fb.name): fb.value})
        scores = core_services.sample_scores_merge(sample=sample, scores=parsed)
    negative, why = _is_negative(fb, selectors.feedback_settings(deployment=deployment).score_flag_thresholds or {})
    if not negative:
        return Applied(sample.id, None, False, scores)
    comment = f"[{fb.tool} score {fb.name!r}: {why}]"
    if fb.comment.strip():
        comment += " " + fb.comment.strip()[:4_000]
    flag = Flag(sample=sample, deployment_id=sample.deployment_id, flagged_by=key.user, reason=Reason.UNHELPFUL,
                comment=comment, required_labels=selectors.feedback_settings(deployment=deployment).overlap)
    try:
        with transaction.atomic():
            flag.save()
    except IntegrityError:
        # One flag per answer and key owner: this answer is already waiting for triage.
        flag = Flag.objects.get(sample=sample, flagged_by=key.user)
    return Applied(sample.id, flag.id, True, scores)


# --- Scores that arrive before their trace -------------------------------------------------------------


def pending_feedback_hold(*, key: ApiKey, fb: ToolFeedback, not_found: ToolFeedbackError) -> Applied:
    """Hold a score whose trace has not arrived (bounded in time and count per deployment); else the 404."""
    seconds, limit = settings.DRIFTDESK_PENDING_FEEDBACK_SECONDS, settings.DRIFTDESK_PENDING_FEEDBACK_MAX
    if seconds <= 0 or limit <= 0:
        raise not_found
    now = timezone.now()
    held = PendingToolFeedback.objects.filter(deployment=key.deployment)
    held.filter(expires_at__lte=now).delete()
    if held.count() >= limit:
        raise ToolFeedbackError(f"{not_found.message}; {limit} scores of this deployment already wait for their "
                                "traces (DRIFTDESK_PENDING_FEEDBACK_MAX)", status=404)
    row = PendingToolFeedback.objects.create(
        deployment=key.deployment, key=key, tool=fb.tool, name=fb.name, value=fb.value, label=fb.label,
        comment=fb.comment[:4_000], trace_id=fb.trace_id or "", span_id=fb.span_id or "", received_at=now,
        expires_at=now + dt.timedelta(seconds=seconds))
    return Applied(None, None, False, {}, pending_id=row.id)


def pending_feedback_apply(*, deployment_id: int, sample_ids: list[int]) -> int:
    """Apply the held scores that point at these new samples' traces (or spans); returns how many were applied.

    Each held score is taken under a row lock (SKIP LOCKED), applied with its key, and deleted in one
    transaction: two ingestions of the same trace never apply it twice. Expired ones are dropped.
    """
    held = PendingToolFeedback.objects.filter(deployment_id=deployment_id)
    if not held.exists():
        return 0
    external_ids = ProductionSample.objects.filter(id__in=sample_ids, deployment_id=deployment_id).values_list(
        "external_id", flat=True)
    traces, spans = set(), set()
    for external_id in external_ids:
        trace_id, sep, span_id = external_id.partition(":")
        if sep:
            traces.add(trace_id)
            spans.add(span_id)
    if not traces:
        return 0
    applied = 0
    with transaction.atomic():
        now = timezone.now()
        held.filter(expires_at__lte=now).delete()
        rows = list(held.filter(Q(trace_id__in=traces) | Q(trace_id="", span_id__in=spans))
                    .select_related("key__deployment", "key__user").select_for_update(skip_locked=True, of=("self",))
                    .order_by("received_at", "id"))
        for row in rows:
            fb = ToolFeedback(row.tool, row.name, row.value, row.label, row.comment, row.trace_id or None,
                              row.span_id or None)
            try:
                with transaction.atomic():
                    if row.key.usable():
                        tool_feedback_apply(key=row.key, fb=fb, hold=False)
                        applied += 1
            except ToolFeedbackError as exc:
                # Its span is not among these samples yet (a trace of several LLM calls): keep waiting.
                if exc.status == 404:
                    continue
                logger.info("held %s score %r dropped: %s", row.tool, row.name, exc.message)
            row.delete()
    return applied


def _samples_created(sender, *, deployment_id: int, sample_ids: list[int], **kwargs) -> None:
    try:
        pending_feedback_apply(deployment_id=deployment_id, sample_ids=sample_ids)
    except Exception:
        # The samples are stored; held scores stay held (and expire) rather than failing the ingestion.
        logger.exception("applying held tool scores failed for deployment %s", deployment_id)


def connect_signals() -> None:
    samples_created.connect(_samples_created, dispatch_uid="feedback_pending_tool_feedback")


# --- The shapes ----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return None


def langfuse_score(body: Any) -> ToolFeedback:
    """A Langfuse score (POST /api/public/scores item or a score-create event's body)."""
    if not isinstance(body, dict):
        raise ToolFeedbackError(f"body: must be a JSON object, got {type(body).__name__}")
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str):
        raise ToolFeedbackError("name: is required (a string)")
    data_type = str(body.get("dataType") or "").upper()
    label = None
    number = _number(value)
    if isinstance(value, str):
        if data_type == "BOOLEAN" or value.lower() in ("true", "false"):
            number = 1.0 if value.lower() == "true" else 0.0
        else:
            label = value
    elif value is not None and number is None:
        raise ToolFeedbackError(f"value: must be a number, a boolean or a string, got {type(value).__name__}")
    if data_type == "BOOLEAN" and number is not None and number == 0:
        label = "false"
    trace_id, span_id = body.get("traceId"), body.get("observationId")
    if not isinstance(trace_id, str) or not trace_id:
        raise ToolFeedbackError("traceId: is required (scores are matched to samples by trace)")
    comment = body.get("comment") or ""
    return ToolFeedback("langfuse", name, number, label, comment if isinstance(comment, str) else str(comment),
                        trace_id, span_id if isinstance(span_id, str) and span_id else None)


def phoenix_annotation(item: Any) -> ToolFeedback:
    """A Phoenix span annotation: {"span_id", "name", "result": {"label", "score", "explanation"}}."""
    if not isinstance(item, dict):
        raise ToolFeedbackError(f"data item: must be a JSON object, got {type(item).__name__}")
    span_id, name, result = item.get("span_id"), item.get("name"), item.get("result") or {}
    if not isinstance(span_id, str) or not span_id:
        raise ToolFeedbackError("span_id: is required")
    if not isinstance(name, str):
        raise ToolFeedbackError("name: is required (a string)")
    if not isinstance(result, dict):
        raise ToolFeedbackError("result: must be an object with label, score and/or explanation")
    score, label = result.get("score"), result.get("label")
    if score is not None and _number(score) is None:
        raise ToolFeedbackError("result.score: must be a number")
    if label is not None and not isinstance(label, str):
        raise ToolFeedbackError("result.label: must be a string")
    explanation = result.get("explanation") or ""
    return ToolFeedback("phoenix", name, _number(score), label, str(explanation), None, span_id)
