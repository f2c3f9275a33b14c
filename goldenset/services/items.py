"""Golden items: create, edit, submit, approve (four eyes), reject, retire, PII acknowledgement."""

from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from drift_app import embeddings
from drift_app.models import Team
from drift_app.roles import SME, has_role, team_ids_with_role
from drift_app.stats import scoring

from ..models import (
    GoldenItem,
    GoldenItemEvent,
    GoldenSetVersion,
)
from .common import (
    SOURCES,
    _clean_tags,
    _pii_digest,
    _raise_problems,
    _reason,
    item_field_problems,
    item_pii,
    item_pii_blocks,
)
from .versions import golden_version_create

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



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


def golden_items_reembed(*, batch: int = 256, cap: int = 5_000) -> int:
    """Embed, with the current encoder, up to `cap` items whose vector is missing or from another encoder.

    Run by a periodic task (and again at once while work remains), like the samples' backfill after a switch of
    encoder (DRIFTDESK_ENCODER): until an item is re-embedded, coverage and near-duplicate queries leave it out
    rather than compare vectors of two encoders. Only the vector columns change (update_fields), which the
    audit trail does not track. Each batch is claimed FOR UPDATE SKIP LOCKED, so two workers never embed the
    same item twice. Returns how many items were embedded.
    """
    done = 0
    while done < cap:
        with transaction.atomic():
            items = list(GoldenItem.objects.exclude(embedding_model=embeddings.MODEL_NAME, prompt_embedding__isnull=False)
                         .select_for_update(skip_locked=True).only("id", "prompt").order_by("id")[:min(batch, cap - done)])
            if not items:
                break
            _embed_items(items)
            GoldenItem.objects.bulk_update(items, ["prompt_embedding", "embedding_model"])
        done += len(items)
    if done:
        logger.info("re-embedded %d golden items with %s", done, embeddings.MODEL_NAME)
    return done


@transaction.atomic
def golden_item_create(
    *, author, prompt: str, reference_answer: str, category: str, reason: str, tags: list[str] | None = None,
    acceptance: dict | None = None, source: str = "authored", source_sample=None, _vector=None,
    team: Team | None = None,
) -> GoldenItem:
    """Create a DRAFT item in `team`'s golden set (default: the author's only SME team); its prompt is
    embedded at once (for near-duplicates and coverage)."""
    reason = _reason(reason)
    team = author_team(author=author, team=team)
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
        source_sample=source_sample, author=author, created_at=now, updated_at=now, team=team,
    )
    if _vector is not None:
        item.prompt_embedding, item.embedding_model = _vector, embeddings.MODEL_NAME
    else:
        _embed_items([item])
    item.save()
    _event(item, action=Action.CREATED, user=author, reason=reason, from_status="")
    return item


def _require_sme(user, team_id: int) -> None:
    # Pages and endpoints scope items to the caller's teams; the service checks the role again, in the
    # team that owns the item, so an SME of another team (or a caller that skipped the view) is refused.
    if not has_role(user, SME, team=team_id):
        raise PermissionDenied("Only an SME of the team that owns this golden set may change it.")


def author_team(*, author, team: Team | None = None) -> Team:
    """The team a new item belongs to: `team` (where the author must be an SME), else the author's only SME team."""
    if team is not None:
        _require_sme(author, team.pk)
        return team
    ids = team_ids_with_role(author, (SME,))
    if len(ids) != 1:
        raise ValidationError({"team": "name the team whose golden set gets the item" if ids else
                               "you are an SME in no team, so you cannot add golden items"})
    return Team.objects.get(pk=ids[0])


def _lock(item: GoldenItem, user=None) -> GoldenItem:
    # Re-read under a row lock: two reviewers clicking at once must not both act on a stale status.
    locked = GoldenItem.objects.select_for_update().get(pk=item.pk)
    if user is not None:
        _require_sme(user, locked.team_id)
    return locked


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
    item = _lock(item, user)
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
    item = _lock(item, user)
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
    item = _lock(item, user)
    if item.status != Status.DRAFT:
        raise ValidationError(f"Only draft items can be submitted for review; this item is {item.get_status_display().lower()}.")
    if item_pii_blocks(item):
        raise ValidationError(_pii_message(item))
    item.status, item.submitted_at, item.updated_at = Status.IN_REVIEW, timezone.now(), timezone.now()
    item.save(update_fields=["status", "submitted_at", "updated_at"])
    _event(item, action=Action.SUBMITTED, user=user, reason=reason, from_status=Status.DRAFT)
    return item


def _text_writers_since_approval(item_ids: list[int]) -> dict[int, set[int]]:
    """Per item, the users who wrote or edited its text since its last approval (one query for a batch)."""
    writers: dict[int, set[int]] = {pk: set() for pk in item_ids}
    rows = (GoldenItemEvent.objects.filter(item_id__in=item_ids,
                                           action__in=[Action.CREATED, Action.UPDATED, Action.APPROVED])
            .order_by("id").values_list("item_id", "action", "user_id"))
    for item_id, action, user_id in rows:
        if action == Action.APPROVED:
            writers[item_id] = set()  # an approval closes the review of everything written before it
        else:
            writers[item_id].add(user_id)
    return writers


def _approve_one(item: GoldenItem, *, user, reason: str, now, writers: set[int] | None = None) -> GoldenItem:
    if item.status != Status.IN_REVIEW:
        raise ValidationError(f"Item #{item.pk} is {item.get_status_display().lower()}; only items in review can be approved.")
    if item.author_id == user.pk:
        raise ValidationError(f"Four eyes: you wrote item #{item.pk}, so another SME must approve it.")
    # Four eyes against every editor, not only the author (the database trigger of migration
    # goldenset.0003 holds the same rule against anything that bypasses this service).
    if writers is None:
        writers = _text_writers_since_approval([item.pk])[item.pk]
    if user.pk in writers:
        raise ValidationError(f"Four eyes: you edited item #{item.pk} since its last approval, "
                              "so another SME must approve it.")
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
    item = _approve_one(_lock(item, user), user=user, reason=reason, now=timezone.now())
    golden_version_create(user=user, team=item.team, reason=f"Approved #{item.pk}: {reason}")
    return item


@transaction.atomic
def golden_items_approve(*, items: list[GoldenItem], user, reason: str) -> GoldenSetVersion:
    """Approve several items at once: one version for the batch. All or nothing."""
    reason = _reason(reason)
    if not items:
        raise ValidationError("Select at least one item to approve.")
    now = timezone.now()
    locked = list(GoldenItem.objects.select_for_update().filter(pk__in=[i.pk for i in items]).order_by("pk"))
    teams = {i.team_id for i in locked}
    if len(teams) != 1:
        raise ValidationError({"ids": "items of one team only: each team's golden set gets its own version"})
    _require_sme(user, teams.pop())
    writers = _text_writers_since_approval([i.pk for i in locked])
    for item in locked:
        _approve_one(item, user=user, reason=reason, now=now, writers=writers[item.pk])
    return golden_version_create(user=user, team=locked[0].team, reason=f"Approved {len(locked)} item(s): {reason}")


@transaction.atomic
def golden_item_reject(*, item: GoldenItem, user, reason: str) -> GoldenItem:
    """Send an item in review back to draft with the reviewer's comment."""
    reason = _reason(reason)
    item = _lock(item, user)
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
    item = _lock(item, user)
    if item.status == Status.RETIRED:
        raise ValidationError("This item is already retired.")
    from_status = item.status
    item.status, item.retired_at, item.updated_at = Status.RETIRED, timezone.now(), timezone.now()
    item.save(update_fields=["status", "retired_at", "updated_at"])
    _event(item, action=Action.RETIRED, user=user, reason=reason, from_status=from_status)
    if from_status == Status.APPROVED:
        golden_version_create(user=user, team=item.team, reason=f"Retired #{item.pk}: {reason}")
    return item
