"""Writes to the golden set: items and their review, versions, import, evaluation runs, schedules.

Every public function is keyword-only and atomic. Four eyes: an item is approved only by an SME
other than its author (checked here and by a database constraint).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from drift_app import embeddings
from drift_app.models import Deployment

from . import scoring
from .llm_client import ChatClient
from .models import (
    EvalConfig, EvalResult, EvalRun, GoldenItem, GoldenItemEvent, GoldenSetVersion, GoldenSetVersionItem,
)
from .pii import find_pii, pii_digest_input

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action

MAX_PROMPT_CHARS = 8000
MAX_ANSWER_CHARS = 16000
MAX_CATEGORY_CHARS = 100
MAX_TAGS = 20
# Prompts at or above this cosine similarity to an existing item are near-duplicates (issue 4).
NEAR_DUPLICATE_SIMILARITY = 0.95
SOURCES = {c.value for c in GoldenItem.Source}
IMPORT_FIELDS = ("prompt", "reference_answer", "category", "tags", "must_include", "must_not_include", "regex", "acceptance")


# --- validation ------------------------------------------------------------------------------------

def _text_problems(name: str, value, *, limit: int) -> list[tuple[str, str]]:
    if value is None:
        return [(name, "is required")]
    if not isinstance(value, str):
        return [(name, f"must be a string, got {type(value).__name__}")]
    if "\x00" in value:
        return [(name, "must not contain NUL characters")]
    if not value.strip():
        return [(name, "must not be empty")]
    if len(value) > limit:
        return [(name, f"is {len(value)} characters long; the limit is {limit}")]
    return []


def item_field_problems(*, prompt, reference_answer, category, tags, acceptance) -> list[tuple[str, str]]:
    """(field, problem) for every invalid field of an item; empty when the item is valid."""
    problems = _text_problems("prompt", prompt, limit=MAX_PROMPT_CHARS)
    problems += _text_problems("reference_answer", reference_answer, limit=MAX_ANSWER_CHARS)
    problems += _text_problems("category", category, limit=MAX_CATEGORY_CHARS)
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() and len(t) <= 50 for t in tags):
            problems.append(("tags", "must be a list of non-empty strings of at most 50 characters"))
        elif len(tags) > MAX_TAGS:
            problems.append(("tags", f"{len(tags)} tags; the limit is {MAX_TAGS}"))
    problems += scoring.validate_acceptance(acceptance)
    return problems


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        errors: dict[str, list[str]] = {}
        for name, problem in problems:
            errors.setdefault(name, []).append(problem)
        raise ValidationError(errors)


def _clean_tags(tags: list[str] | None) -> list[str]:
    return sorted({t.strip().lower() for t in tags or [] if t.strip()})


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "A reason is required for every change to the golden set."})
    return reason.strip()


# --- hashing ---------------------------------------------------------------------------------------

def canonical_item(*, item_id: int, prompt: str, reference_answer: str, category: str, tags, acceptance) -> dict:
    return {
        "id": item_id, "prompt": prompt, "reference_answer": reference_answer, "category": category,
        "tags": sorted(tags or []), "acceptance": scoring.clean_acceptance(acceptance),
    }


def _sha256(obj) -> str:
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def item_content_hash(item: GoldenItem) -> str:
    return _sha256(canonical_item(
        item_id=item.id, prompt=item.prompt, reference_answer=item.reference_answer, category=item.category,
        tags=item.tags, acceptance=item.acceptance,
    ))


def version_content_hash(item_hashes: dict[int, str]) -> str:
    """Hash of a version: sha256 over "id:item_hash" lines sorted by id. Stable across processes."""
    lines = "\n".join(f"{i}:{item_hashes[i]}" for i in sorted(item_hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def _pii_digest(item: GoldenItem) -> str:
    return hashlib.sha256(pii_digest_input(item.prompt, item.reference_answer).encode()).hexdigest()


def item_pii(item: GoldenItem) -> dict[str, list]:
    return {"prompt": find_pii(item.prompt), "reference_answer": find_pii(item.reference_answer)}


def item_pii_blocks(item: GoldenItem) -> bool:
    """True when the item holds PII that nobody acknowledged for its current text."""
    found = item_pii(item)
    return bool(found["prompt"] or found["reference_answer"]) and item.pii_ack_digest != _pii_digest(item)


# --- items -----------------------------------------------------------------------------------------

def _snapshot(item: GoldenItem) -> dict:
    return {
        "prompt": item.prompt, "reference_answer": item.reference_answer, "category": item.category,
        "tags": list(item.tags), "acceptance": dict(item.acceptance), "revision": item.revision,
    }


def _event(item: GoldenItem, *, action: str, user, reason: str, from_status: str) -> GoldenItemEvent:
    return GoldenItemEvent.objects.create(
        item=item, action=action, user=user, reason=reason, from_status=from_status, to_status=item.status,
        snapshot=_snapshot(item),
    )


_VECTOR_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()
_VECTOR_CACHE_SIZE = 20_000


def encode_cached(texts: list[str]) -> np.ndarray:
    """embeddings.encode with a per-process LRU: references and repeated answers are encoded once.

    The encoder is deterministic, so a cached vector equals a fresh one; unique texts go in one batch.
    """
    missing = list(dict.fromkeys(t for t in texts if t not in _VECTOR_CACHE))
    if missing:
        for text, vector in zip(missing, embeddings.encode(missing)):
            _VECTOR_CACHE[text] = vector
            if len(_VECTOR_CACHE) > _VECTOR_CACHE_SIZE:
                _VECTOR_CACHE.popitem(last=False)
    out = np.zeros((len(texts), embeddings.DIMENSIONS), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = _VECTOR_CACHE[text]
        _VECTOR_CACHE.move_to_end(text)
    return out


def _embed_items(items: list[GoldenItem]) -> None:
    if not items:
        return
    vectors = embeddings.encode([i.prompt for i in items])
    for item, vector in zip(items, vectors):
        item.prompt_embedding = vector
        item.embedding_model = embeddings.MODEL_NAME


@transaction.atomic
def golden_item_create(
    *, author, prompt: str, reference_answer: str, category: str, reason: str, tags: list[str] | None = None,
    acceptance: dict | None = None, source: str = "authored", source_sample=None, _vector=None,
) -> GoldenItem:
    """Create a DRAFT item; its prompt is embedded at once (for near-duplicates and coverage)."""
    reason = _reason(reason)
    problems = item_field_problems(
        prompt=prompt, reference_answer=reference_answer, category=category, tags=tags, acceptance=acceptance,
    )
    if source not in SOURCES:
        problems.append(("source", f"must be one of {', '.join(sorted(SOURCES))}"))
    _raise_problems(problems)
    now = timezone.now()
    item = GoldenItem(
        prompt=prompt.strip(), reference_answer=reference_answer.strip(), category=category.strip().lower(),
        tags=_clean_tags(tags), acceptance=scoring.clean_acceptance(acceptance), source=source,
        source_sample=source_sample, author=author, created_at=now, updated_at=now,
    )
    if _vector is not None:
        item.prompt_embedding, item.embedding_model = _vector, embeddings.MODEL_NAME
    else:
        _embed_items([item])
    item.save()
    _event(item, action=Action.CREATED, user=author, reason=reason, from_status="")
    return item


def _lock(item: GoldenItem) -> GoldenItem:
    # Re-read under a row lock: two reviewers clicking at once must not both act on a stale status.
    return GoldenItem.objects.select_for_update().get(pk=item.pk)


@transaction.atomic
def golden_item_update(
    *, item: GoldenItem, user, reason: str, prompt: str | None = None, reference_answer: str | None = None,
    category: str | None = None, tags: list[str] | None = None, acceptance: dict | None = None,
) -> GoldenItem:
    """Edit an item. An edit of an item in review or approved sends it back to draft for a fresh review.

    An approved item leaves the live approved set until it is approved again; the latest version
    (what evaluations use) keeps its previously approved text until then.
    """
    reason = _reason(reason)
    item = _lock(item)
    if item.status == Status.RETIRED:
        raise ValidationError("A retired item cannot be edited; create a new item instead.")
    new = {
        "prompt": item.prompt if prompt is None else prompt,
        "reference_answer": item.reference_answer if reference_answer is None else reference_answer,
        "category": item.category if category is None else category,
        "tags": item.tags if tags is None else tags,
        "acceptance": item.acceptance if acceptance is None else acceptance,
    }
    _raise_problems(item_field_problems(**new))
    before = _snapshot(item)
    old_prompt = item.prompt
    item.prompt, item.reference_answer = new["prompt"].strip(), new["reference_answer"].strip()
    item.category, item.tags = new["category"].strip().lower(), _clean_tags(new["tags"])
    item.acceptance = scoring.clean_acceptance(new["acceptance"])
    after = _snapshot(item)
    after["revision"] = before["revision"]
    if after == before:
        raise ValidationError("Nothing changed: the edit is identical to the current item.")
    from_status = item.status
    item.revision += 1
    item.status = Status.DRAFT
    item.approver, item.approved_at, item.submitted_at = None, None, None
    item.updated_at = timezone.now()
    if item.prompt != old_prompt:
        _embed_items([item])
    item.save()
    _event(item, action=Action.UPDATED, user=user, reason=reason, from_status=from_status)
    return item


@transaction.atomic
def golden_item_acknowledge_pii(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    """Record that an SME checked the PII in the item's current text and accepts it (e.g. a fake address)."""
    reason = _reason(reason)
    item = _lock(item)
    found = item_pii(item)
    if not (found["prompt"] or found["reference_answer"]):
        raise ValidationError("This item contains no personal data to acknowledge.")
    item.pii_ack_digest = _pii_digest(item)
    item.updated_at = timezone.now()
    item.save(update_fields=["pii_ack_digest", "updated_at"])
    _event(item, action=Action.PII_ACKNOWLEDGED, user=user, reason=reason, from_status=item.status)
    return item


def _pii_message(item: GoldenItem) -> str:
    found = item_pii(item)
    parts = [f"{f.kind} in the {name.replace('_', ' ')} at characters {f.start}-{f.end}"
             for name, findings in found.items() for f in findings]
    return ("The item contains personal data (" + "; ".join(parts) + "). Redact it (edit it away) or "
            "acknowledge it explicitly before submitting for review.")


@transaction.atomic
def golden_item_submit(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    reason = _reason(reason)
    item = _lock(item)
    if item.status != Status.DRAFT:
        raise ValidationError(f"Only draft items can be submitted for review; this item is {item.get_status_display().lower()}.")
    if item_pii_blocks(item):
        raise ValidationError(_pii_message(item))
    item.status, item.submitted_at, item.updated_at = Status.IN_REVIEW, timezone.now(), timezone.now()
    item.save(update_fields=["status", "submitted_at", "updated_at"])
    _event(item, action=Action.SUBMITTED, user=user, reason=reason, from_status=Status.DRAFT)
    return item


def _approve_one(item: GoldenItem, *, user, reason: str, now) -> GoldenItem:
    if item.status != Status.IN_REVIEW:
        raise ValidationError(f"Item #{item.pk} is {item.get_status_display().lower()}; only items in review can be approved.")
    if item.author_id == user.pk:
        raise ValidationError(f"Four eyes: you wrote item #{item.pk}, so another SME must approve it.")
    if item_pii_blocks(item):
        raise ValidationError(_pii_message(item))
    item.status, item.approver, item.approved_at, item.updated_at = Status.APPROVED, user, now, now
    item.save(update_fields=["status", "approver", "approved_at", "updated_at"])
    _event(item, action=Action.APPROVED, user=user, reason=reason, from_status=Status.IN_REVIEW)
    return item


@transaction.atomic
def golden_item_approve(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    """Approve an item in review (never by its author) and cut a new golden-set version."""
    reason = _reason(reason)
    item = _approve_one(_lock(item), user=user, reason=reason, now=timezone.now())
    golden_version_create(user=user, reason=f"Approved #{item.pk}: {reason}")
    return item


@transaction.atomic
def golden_items_approve(*, items: list[GoldenItem], user, reason: str) -> GoldenSetVersion:
    """Approve several items at once: one version for the batch. All or nothing."""
    reason = _reason(reason)
    if not items:
        raise ValidationError("Select at least one item to approve.")
    now = timezone.now()
    locked = list(GoldenItem.objects.select_for_update().filter(pk__in=[i.pk for i in items]).order_by("pk"))
    for item in locked:
        _approve_one(item, user=user, reason=reason, now=now)
    return golden_version_create(user=user, reason=f"Approved {len(locked)} item(s): {reason}")


@transaction.atomic
def golden_item_reject(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    """Send an item in review back to draft with the reviewer's comment."""
    reason = _reason(reason)
    item = _lock(item)
    if item.status != Status.IN_REVIEW:
        raise ValidationError(f"Only items in review can be rejected; this item is {item.get_status_display().lower()}.")
    item.status, item.submitted_at, item.updated_at = Status.DRAFT, None, timezone.now()
    item.save(update_fields=["status", "submitted_at", "updated_at"])
    _event(item, action=Action.REJECTED, user=user, reason=reason, from_status=Status.IN_REVIEW)
    return item


@transaction.atomic
def golden_item_retire(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    """Retire an item. Retiring an approved item cuts a new version without it."""
    reason = _reason(reason)
    item = _lock(item)
    if item.status == Status.RETIRED:
        raise ValidationError("This item is already retired.")
    from_status = item.status
    item.status, item.retired_at, item.updated_at = Status.RETIRED, timezone.now(), timezone.now()
    item.save(update_fields=["status", "retired_at", "updated_at"])
    _event(item, action=Action.RETIRED, user=user, reason=reason, from_status=from_status)
    if from_status == Status.APPROVED:
        golden_version_create(user=user, reason=f"Retired #{item.pk}: {reason}")
    return item


# --- versions --------------------------------------------------------------------------------------

@transaction.atomic
def golden_version_create(*, user, reason: str) -> GoldenSetVersion:
    """Snapshot the approved items into a new immutable version."""
    with connection.cursor() as cursor:
        # Versions are numbered 1, 2, 3...: serialise their creation across processes.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('goldenset.version'))")
    items = list(GoldenItem.objects.filter(status=Status.APPROVED).defer("prompt_embedding").order_by("id"))
    hashes = {i.id: item_content_hash(i) for i in items}
    last = GoldenSetVersion.objects.order_by("-number").values_list("number", flat=True).first() or 0
    version = GoldenSetVersion(
        number=last + 1, content_hash=version_content_hash(hashes), item_count=len(items), reason=reason,
        created_by=user,
    )
    version.save()
    GoldenSetVersionItem.objects.bulk_create([
        GoldenSetVersionItem(
            version=version, item=i, revision=i.revision, prompt=i.prompt, reference_answer=i.reference_answer,
            category=i.category, tags=i.tags, acceptance=i.acceptance, item_hash=hashes[i.id],
        )
        for i in items
    ])
    return version


# --- import ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    problem: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "problem": self.problem}


@dataclass(frozen=True)
class NearDuplicate:
    row: int
    prompt: str
    existing_item_id: int | None
    existing_row: int | None
    existing_prompt: str
    similarity: float

    def as_dict(self) -> dict:
        return {"row": self.row, "prompt": self.prompt, "existing_item_id": self.existing_item_id,
                "existing_row": self.existing_row, "existing_prompt": self.existing_prompt,
                "similarity": round(self.similarity, 4)}


@dataclass
class ImportReport:
    rows: int = 0
    created: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: list[NearDuplicate] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows, "created": len(self.created), "created_ids": self.created,
            "problems": [p.as_dict() for p in self.problems],
            "near_duplicates": [d.as_dict() for d in self.duplicates],
        }


def _split_terms(value: str) -> list[str]:
    # CSV cells hold lists separated by "|" (commas occur inside terms, e.g. "$1,000").
    return [t.strip() for t in (value or "").split("|") if t.strip()]


def parse_import(*, fmt: str, content: str) -> tuple[list[dict], list[RowProblem]]:
    """Parse JSONL or CSV into row dicts (row numbers from 1, as an editor shows them)."""
    rows: list[dict] = []
    problems: list[RowProblem] = []
    if fmt == "jsonl":
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                problems.append(RowProblem(n, "line", f"is not valid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append(RowProblem(n, "line", f"must be a JSON object, got {type(obj).__name__}"))
                continue
            obj["_row"] = n
            rows.append(obj)
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(content))
        missing = {"prompt", "reference_answer", "category"} - set(reader.fieldnames or [])
        if missing:
            return [], [RowProblem(1, sorted(missing)[0], "column is missing from the header row")]
        for record in reader:
            n = reader.line_num
            if None in record:
                problems.append(RowProblem(n, "line", "has more cells than the header"))
                continue
            row = {k: v for k, v in record.items() if k}
            row["tags"] = _split_terms(row.get("tags", ""))
            acceptance = {}
            for key in ("must_include", "must_not_include"):
                if row.pop(key, ""):
                    acceptance[key] = _split_terms(record[key])
            if row.get("regex"):
                acceptance["regex"] = row["regex"]
            row.pop("regex", None)
            row["acceptance"] = acceptance
            row["_row"] = n
            rows.append(row)
    else:
        problems.append(RowProblem(0, "format", "must be 'jsonl' or 'csv'"))
    return rows, problems


def _nearest_existing(vector: np.ndarray) -> tuple[GoldenItem | None, float]:
    from pgvector.django import CosineDistance

    hit = (
        GoldenItem.objects.exclude(status=Status.RETIRED).filter(prompt_embedding__isnull=False)
        .annotate(distance=CosineDistance("prompt_embedding", vector)).order_by("distance")
        .only("id", "prompt").first()
    )
    if hit is None:
        return None, 0.0
    return hit, 1.0 - float(hit.distance)


@transaction.atomic
def golden_import(
    *, user, fmt: str, content: str, reason: str, accept_duplicate_rows: list[int] | None = None,
) -> ImportReport:
    """Import items as drafts (source "imported").

    Any invalid row: nothing is stored and the report lists (row, field, problem). Otherwise every
    row is stored except near-duplicates (cosine >= 0.95 to a live item or to an earlier row),
    which are reported for the SME to decide; rows listed in `accept_duplicate_rows` are stored anyway.
    """
    reason = _reason(reason)
    accepted = set(accept_duplicate_rows or [])
    rows, problems = parse_import(fmt=fmt, content=content)
    report = ImportReport(rows=len(rows) + len([p for p in problems if p.field == "line"]))
    for row in rows:
        n = row["_row"]
        unknown = set(row) - set(IMPORT_FIELDS) - {"_row"}
        if fmt == "jsonl" and unknown:
            problems.append(RowProblem(n, sorted(unknown)[0], f"unknown field; allowed: {', '.join(IMPORT_FIELDS)}"))
        acceptance = row.get("acceptance") or {}
        if fmt == "jsonl":
            if not isinstance(acceptance, dict):
                problems.append(RowProblem(n, "acceptance", "must be an object"))
                acceptance = {}
            acceptance = dict(acceptance)
            for key in ("must_include", "must_not_include", "regex"):
                if key in row:
                    acceptance[key] = row[key]
            row["acceptance"] = acceptance
        for name, problem in item_field_problems(
            prompt=row.get("prompt"), reference_answer=row.get("reference_answer"), category=row.get("category"),
            tags=row.get("tags", []), acceptance=acceptance,
        ):
            problems.append(RowProblem(n, name, problem))
    if not rows and not problems:
        problems.append(RowProblem(0, "file", "contains no rows"))
    if problems:
        report.problems = sorted(problems, key=lambda p: (p.row, p.field))
        return report

    vectors = embeddings.encode([r["prompt"].strip() for r in rows])
    kept: list[tuple[dict, np.ndarray]] = []
    for row, vector in zip(rows, vectors):
        n = row["_row"]
        existing, similarity = _nearest_existing(vector)
        dup = None
        if existing is not None and similarity >= NEAR_DUPLICATE_SIMILARITY:
            dup = NearDuplicate(n, row["prompt"], existing.id, None, existing.prompt, similarity)
        elif kept:
            sims = np.stack([v for _, v in kept]) @ vector
            best = int(np.argmax(sims))
            if sims[best] >= NEAR_DUPLICATE_SIMILARITY:
                dup = NearDuplicate(n, row["prompt"], None, kept[best][0]["_row"], kept[best][0]["prompt"], float(sims[best]))
        if dup is not None and n not in accepted:
            report.duplicates.append(dup)
            continue
        item = golden_item_create(
            author=user, prompt=row["prompt"], reference_answer=row["reference_answer"], category=row["category"],
            tags=row.get("tags") or [], acceptance=row.get("acceptance") or {}, source=GoldenItem.Source.IMPORTED,
            reason=f"Imported (row {n}): {reason}", _vector=vector,
        )
        kept.append((row, vector))
        report.created.append(item.id)
    return report


def golden_export(*, fmt: str, items) -> str:
    """Items as JSONL or CSV in the import format (plus id and status, ignored on import)."""
    out = io.StringIO()
    if fmt == "jsonl":
        for i in items:
            out.write(json.dumps({
                "id": i.id, "status": i.status, "prompt": i.prompt, "reference_answer": i.reference_answer,
                "category": i.category, "tags": i.tags, "acceptance": i.acceptance,
            }, ensure_ascii=False) + "\n")
        return out.getvalue()
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["id", "status", "prompt", "reference_answer", "category", "tags", "must_include",
                         "must_not_include", "regex"])
        for i in items:
            acc = i.acceptance or {}
            writer.writerow([i.id, i.status, i.prompt, i.reference_answer, i.category, "|".join(i.tags),
                             "|".join(acc.get("must_include", [])), "|".join(acc.get("must_not_include", [])),
                             acc.get("regex", "")])
        return out.getvalue()
    raise ValidationError({"format": "must be 'jsonl' or 'csv'"})


# --- evaluation config and schedule ----------------------------------------------------------------

EVAL_CONFIG_FIELDS = ("endpoint_base_url", "endpoint_model", "api_key_env", "timeout_s", "max_retries", "concurrency",
                      "similarity_threshold", "judge_enabled", "judge_model", "schedule_cron")


def eval_config_get(*, deployment: Deployment) -> EvalConfig:
    config = EvalConfig.objects.filter(deployment=deployment).first()
    return config or EvalConfig(deployment=deployment)


@transaction.atomic
def eval_config_update(*, deployment: Deployment, **fields) -> EvalConfig:
    unknown = set(fields) - set(EVAL_CONFIG_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "unknown field"})
    config = EvalConfig.objects.select_for_update().filter(deployment=deployment).first() or EvalConfig(deployment=deployment)
    for name, value in fields.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    eval_schedule_sync(config=config)
    return config


def eval_schedule_sync(*, config: EvalConfig):
    """Create, update or remove the deployment's django-celery-beat PeriodicTask from its cron."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    name = f"Golden-set evaluation: {config.deployment.slug}"
    if not (config.schedule_cron and config.has_endpoint):
        PeriodicTask.objects.filter(name=name).delete()
        return None
    minute, hour, dom, month, dow = config.schedule_cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
        timezone=timezone.get_current_timezone_name(),
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": "goldenset.tasks.eval_scheduled_task", "crontab": crontab, "interval": None,
                  "args": json.dumps([config.deployment_id]), "enabled": True, "queue": "default"},
    )
    return task


# --- evaluation runs -------------------------------------------------------------------------------

def _latest_version() -> GoldenSetVersion:
    version = GoldenSetVersion.objects.order_by("-number").first()
    if version is None or version.item_count == 0:
        raise ValidationError("The golden set has no approved items yet: approve items before evaluating.")
    return version


@transaction.atomic
def eval_run_create(
    *, deployment: Deployment, user=None, model_version: str | None = None, answers: dict[int, str] | None = None,
    trigger: str = EvalRun.Trigger.API, queue: bool = True,
) -> EvalRun:
    """Create a run of the latest golden-set version for a model version.

    `answers` maps golden item id → answer text (uploaded answers, path b); without it the answers come
    from the deployment's endpoint (path a). Items without an uploaded answer end errored.
    With queue=True the scoring runs in a worker after commit.
    """
    version = _latest_version()
    config = eval_config_get(deployment=deployment)
    model_version = (model_version or deployment.current_model_version).strip()
    if not model_version or len(model_version) > 200:
        raise ValidationError({"model_version": "must be 1 to 200 characters"})
    if answers is None and not config.has_endpoint:
        raise ValidationError("This deployment has no model endpoint configured: upload answers instead.")
    version_items = list(version.items.all())
    if answers is not None:
        known = {vi.item_id for vi in version_items}
        unknown = sorted(set(answers) - known)
        if unknown:
            raise ValidationError({"answers": f"golden items not in version {version.number}: "
                                              + ", ".join(map(str, unknown[:20]))})
        bad = [k for k, v in answers.items() if not isinstance(v, str) or len(v) > MAX_ANSWER_CHARS or "\x00" in v]
        if bad:
            raise ValidationError({"answers": f"answers must be strings of at most {MAX_ANSWER_CHARS} characters "
                                              f"without NUL; see items {', '.join(map(str, bad[:20]))}"})
    run = EvalRun.objects.create(
        deployment=deployment, model_version=model_version, golden_version=version, created_by=user,
        answer_source=EvalRun.AnswerSource.UPLOADED if answers is not None else EvalRun.AnswerSource.ENDPOINT,
        trigger=trigger, similarity_threshold=config.similarity_threshold,
        judge_model=config.judge_model if config.judge_enabled else "",
        judge_prompt_version=scoring.JUDGE_PROMPT_VERSION if config.judge_enabled else "",
        endpoint_model=config.endpoint_model if answers is None else "", item_count=len(version_items),
    )
    EvalResult.objects.bulk_create([
        EvalResult(run=run, version_item=vi, item_id=vi.item_id,
                   answer=answers.get(vi.item_id) if answers is not None else None)
        for vi in version_items
    ])
    if queue:
        from .tasks import eval_run_execute_task

        transaction.on_commit(lambda: eval_run_execute_task.delay(run.id), robust=True)
    return run


def _client(config: EvalConfig, *, model: str) -> ChatClient:
    key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
    return ChatClient(base_url=config.endpoint_base_url, model=model, api_key=key, timeout_s=config.timeout_s,
                      max_retries=config.max_retries, concurrency=config.concurrency)


def eval_run_execute(*, run: EvalRun, client: ChatClient | None = None, judge_client: ChatClient | None = None) -> EvalRun:
    """Obtain answers (endpoint runs), score every item, store results and the comparison with the baseline.

    Network calls happen outside any transaction; results are written in one transaction at the end.
    Safe to run again on a run that failed half-way (answers already obtained are kept).
    """
    run = EvalRun.objects.select_related("deployment").get(pk=run.pk)
    if run.status == EvalRun.Status.SUCCEEDED:
        return run
    EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.RUNNING,
                                             started_at=run.started_at or timezone.now())
    run.refresh_from_db()
    config = eval_config_get(deployment=run.deployment)
    results = list(run.results.select_related("version_item").order_by("item_id"))
    try:
        errors: dict[int, str] = {}
        if run.answer_source == EvalRun.AnswerSource.ENDPOINT:
            missing = [r for r in results if r.answer is None]
            client = client or _client(config, model=run.endpoint_model or config.endpoint_model)
            replies = client.complete_many([[{"role": "user", "content": r.version_item.prompt}] for r in missing])
            for r, reply in zip(missing, replies):
                r.attempts, r.latency_ms = reply.attempts, reply.latency_ms
                if reply.ok:
                    r.answer = reply.content
                else:
                    errors[r.id] = reply.error
        for r in results:
            if r.answer is None and r.id not in errors:
                errors[r.id] = "no answer was uploaded for this item"
        scorable = [r for r in results if r.id not in errors]
        vectors = encode_cached([r.answer for r in scorable] + [r.version_item.reference_answer for r in scorable])
        sims = scoring.cosine_rows(vectors[: len(scorable)], vectors[len(scorable):])
        judges: dict[int, scoring.JudgeVerdict] = {}
        if run.judge_model:
            judge_client = judge_client or _client(config, model=run.judge_model)
            replies = judge_client.complete_many([
                scoring.judge_messages(prompt=r.version_item.prompt, reference=r.version_item.reference_answer,
                                       answer=r.answer) for r in scorable
            ])
            for r, reply in zip(scorable, replies):
                if not reply.ok:
                    errors[r.id] = f"judge: {reply.error}"
                    continue
                try:
                    judges[r.id] = scoring.parse_judge_reply(reply.content)
                except scoring.JudgeReplyMalformed as exc:
                    errors[r.id] = f"judge: {exc}"
        for r, sim in zip(scorable, sims):
            if r.id in errors:
                continue
            s = scoring.decide(answer=r.answer, reference=r.version_item.reference_answer,
                               acceptance=r.version_item.acceptance, similarity=float(sim),
                               threshold=run.similarity_threshold, judge=judges.get(r.id))
            r.outcome = EvalResult.Outcome.PASSED if s.passed else EvalResult.Outcome.FAILED
            r.score, r.exact_match, r.similarity = s.score, s.exact, s.similarity
            r.acceptance_ok, r.acceptance_problems = s.acceptance_ok, s.acceptance_problems
            if s.judge is not None:
                r.judge_passed, r.judge_score, r.judge_rationale = s.judge.passed, s.judge.score, s.judge.rationale
                r.judge_model, r.judge_prompt_version = run.judge_model, run.judge_prompt_version
        for r in results:
            if r.id in errors:
                # Errored is never passed: no score, no verdict, left out of the pass rate.
                r.outcome, r.error, r.score = EvalResult.Outcome.ERRORED, errors[r.id][:2000], None
        return _eval_run_finish(run=run, results=results)
    except Exception as exc:
        logger.exception("golden evaluation run %s failed", run.pk)
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.FAILED, error=str(exc)[:2000],
                                                 finished_at=timezone.now())
        raise


@transaction.atomic
def _eval_run_finish(*, run: EvalRun, results: list[EvalResult]) -> EvalRun:
    EvalResult.objects.bulk_update(results, [
        "answer", "outcome", "score", "exact_match", "similarity", "acceptance_ok", "acceptance_problems",
        "judge_passed", "judge_score", "judge_rationale", "judge_model", "judge_prompt_version", "error",
        "attempts", "latency_ms",
    ])
    passed = sum(r.outcome == EvalResult.Outcome.PASSED for r in results)
    failed = sum(r.outcome == EvalResult.Outcome.FAILED for r in results)
    errored = sum(r.outcome == EvalResult.Outcome.ERRORED for r in results)
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        if r.outcome == EvalResult.Outcome.ERRORED:
            continue
        c = counts.setdefault(r.version_item.category, {"passed": 0, "scored": 0})
        c["scored"] += 1
        c["passed"] += r.outcome == EvalResult.Outcome.PASSED
    run.passed_count, run.failed_count, run.errored_count = passed, failed, errored
    run.pass_rate = round(passed / (passed + failed), 4) if passed + failed else None
    run.category_counts = dict(sorted(counts.items()))
    run.category_pass_rates = {k: round(v["passed"] / v["scored"], 4) for k, v in sorted(counts.items())}
    if passed + failed == 0:
        run.status, run.error = EvalRun.Status.FAILED, "Every item errored: no answer could be scored."
    else:
        run.status, run.error = EvalRun.Status.SUCCEEDED, ""
    run.finished_at = run.finished_at if run.finished_at and run.finished_at >= run.started_at else timezone.now()
    run.save()
    if run.status == EvalRun.Status.SUCCEEDED:
        baseline = EvalRun.objects.filter(deployment=run.deployment, is_baseline=True).exclude(pk=run.pk).first()
        if baseline is None and not run.is_baseline:
            # The first successful run of a deployment becomes its baseline until someone picks another.
            run.is_baseline = True
            run.save(update_fields=["is_baseline"])
        else:
            _compare_with_baseline(run=run, baseline=baseline)
    return run


def _compare_with_baseline(*, run: EvalRun, baseline: EvalRun | None) -> None:
    EvalResult.objects.filter(run=run).update(regressed=False)
    if baseline is None or baseline.pk == run.pk:
        run.baseline_run, run.relative_drop_pct, run.regressed_count = None, None, 0
    else:
        passed_before = set(
            baseline.results.filter(outcome=EvalResult.Outcome.PASSED).values_list("item_id", flat=True)
        )
        regressed = EvalResult.objects.filter(run=run, outcome=EvalResult.Outcome.FAILED, item_id__in=passed_before)
        run.regressed_count = regressed.update(regressed=True)
        run.baseline_run = baseline
        run.relative_drop_pct = scoring.relative_drop_pct(baseline.pass_rate, run.pass_rate)
    run.save(update_fields=["baseline_run", "relative_drop_pct", "regressed_count"])


@transaction.atomic
def eval_run_set_baseline(*, run: EvalRun, user, reason: str) -> EvalRun:
    """Make `run` the deployment's baseline; later runs are compared with it."""
    _reason(reason)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status != EvalRun.Status.SUCCEEDED:
        raise ValidationError("Only a succeeded run can be the baseline.")
    EvalRun.objects.filter(deployment=run.deployment, is_baseline=True).exclude(pk=run.pk).update(is_baseline=False)
    run.is_baseline = True
    run.save(update_fields=["is_baseline"])
    _compare_with_baseline(run=run, baseline=None)
    logger.info("baseline of %s set to run %s by %s: %s", run.deployment.slug, run.pk, user, reason)
    return run


def eval_scheduled(*, deployment: Deployment) -> EvalRun | None:
    """The scheduled evaluation of a deployment's current model version through its endpoint."""
    config = eval_config_get(deployment=deployment)
    if not config.has_endpoint:
        logger.warning("scheduled golden evaluation of %s skipped: no endpoint configured", deployment.slug)
        return None
    run = eval_run_create(deployment=deployment, trigger=EvalRun.Trigger.SCHEDULE, queue=False)
    return eval_run_execute(run=run)
