"""Writes for human feedback: flag, claim, label, adjudicate, promote.

Every service is keyword-only and atomic. Refusals raise FeedbackError subclasses whose message
names the problem; the API and the pages turn them into 4xx answers (status on the exception).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from drift_app.models import ProductionSample
from drift_app.roles import POWER_USER, SME, has_role

from . import selectors
from .models import Adjudication, Flag, Label, LabelChoice, Promotion, Reason


class FeedbackError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(FeedbackError):
    status = 403


class Conflict(FeedbackError):
    status = 409


class DuplicateFlag(Conflict):
    pass


class FlagLocked(Conflict):
    pass


def _require(user, role: str, action: str, *, sample_id: int | None = None, flag_id: int | None = None) -> None:
    # Views check roles first; services check again, in the team that owns the sample's (or flag's)
    # deployment (roles are per team), so no caller can skip it.
    if flag_id is not None:
        team_id = Flag.objects.filter(pk=flag_id).values_list("deployment__team_id", flat=True).first()
    else:
        team_id = ProductionSample.objects.filter(pk=sample_id).values_list("deployment__team_id", flat=True).first()
    if team_id is None or not has_role(user, role, team=team_id):
        raise NotAllowed(f"Only users with the role {role} in the deployment's team may {action}.")


def _clean_text(value: str, field: str, *, max_chars: int = 20_000) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise FeedbackError(f"{field} must not contain NUL characters.")
    if len(value) > max_chars:
        raise FeedbackError(f"{field} is {len(value)} characters long; the limit is {max_chars}.")
    return value


# --- Flags ---------------------------------------------------------------------------------------


@transaction.atomic
def flag_create(*, sample: ProductionSample, user, reason: str, comment: str = "") -> Flag:
    """A power user flags one answer. One flag per user and sample: a second one is a DuplicateFlag."""
    _require(user, POWER_USER, "flag answers", sample_id=sample.pk)
    if reason not in Reason.values:
        raise FeedbackError(f"reason must be one of {', '.join(Reason.values)}; got {reason!r}.")
    comment = _clean_text(comment, "comment", max_chars=5_000)
    config = selectors.feedback_settings(deployment=sample.deployment)
    flag = Flag(
        sample=sample,
        deployment_id=sample.deployment_id,
        flagged_by=user,
        reason=reason,
        comment=comment,
        required_labels=config.overlap,
    )
    try:
        # A savepoint: the unique constraint, not a prior SELECT, decides between two racing requests.
        with transaction.atomic():
            flag.save()
    except IntegrityError:
        existing = Flag.objects.filter(sample=sample, flagged_by=user).first()
        when = existing.created_at.strftime("%Y-%m-%d %H:%M UTC") if existing else "earlier"
        raise DuplicateFlag(
            f"You already flagged this answer ({sample.external_id}) on {when}; one flag per user and answer."
        ) from None
    return flag


# --- Claims --------------------------------------------------------------------------------------


def _locked(flag_id: int) -> Flag:
    # SELECT ... FOR UPDATE: two SMEs claiming at once queue on the row lock; the second sees the first's claim.
    return Flag.objects.select_for_update(of=("self",)).select_related("deployment").get(pk=flag_id)


def _claim_message(flag: Flag) -> str:
    who = flag.claimed_by.get_username() if flag.claimed_by else "another SME"
    return f"Flag {flag.pk} is claimed by {who} until {flag.claimed_until:%H:%M:%S} UTC."


@transaction.atomic
def flag_claim(*, flag: Flag, user, now: dt.datetime | None = None) -> Flag:
    """Lock a flag for one SME for the deployment's claim_minutes. Claiming one's own claim extends it."""
    _require(user, SME, "claim flags", flag_id=flag.pk)
    now = now or timezone.now()
    flag = _locked(flag.pk)
    if flag.status == Flag.Status.RESOLVED:
        raise Conflict(f"Flag {flag.pk} is already resolved ({flag.get_final_label_display()}).")
    if flag.claim_active(now) and flag.claimed_by_id != user.pk:
        raise FlagLocked(_claim_message(flag))
    if flag.status == Flag.Status.OPEN and flag.labels.filter(sme=user).exists():
        raise Conflict(
            f"You already labelled flag {flag.pk}; it needs {flag.required_labels} independent labels, "
            "so another SME must give the next one."
        )
    minutes = selectors.feedback_settings(deployment=flag.deployment).claim_minutes
    flag.claimed_by = user
    flag.claimed_until = now + dt.timedelta(minutes=minutes)
    flag.save(update_fields=["claimed_by", "claimed_until"])
    return flag


@transaction.atomic
def flag_release(*, flag: Flag, user) -> Flag:
    """Give a claim back before it runs out."""
    _require(user, SME, "release claims", flag_id=flag.pk)
    flag = _locked(flag.pk)
    if flag.claimed_by_id != user.pk:
        raise Conflict(f"Flag {flag.pk} is not claimed by you.")
    flag.claimed_by = None
    flag.claimed_until = None
    flag.save(update_fields=["claimed_by", "claimed_until"])
    return flag


def _check_claim(flag: Flag, user, now: dt.datetime) -> None:
    if flag.claimed_by_id != user.pk:
        if flag.claim_active(now):
            raise FlagLocked(_claim_message(flag))
        raise Conflict(f"Claim flag {flag.pk} first: only the SME holding the claim may label it.")
    if not flag.claim_active(now):
        raise Conflict(f"Your claim on flag {flag.pk} ran out at {flag.claimed_until:%H:%M:%S} UTC; claim it again.")


def _check_verdict(label: str) -> None:
    if label not in LabelChoice.values:
        raise FeedbackError(f"label must be one of {', '.join(LabelChoice.values)}; got {label!r}.")


# --- Labels and adjudication ---------------------------------------------------------------------


@transaction.atomic
def flag_label(
    *, flag: Flag, user, label: str, comment: str = "", corrected_answer: str = "", now: dt.datetime | None = None
) -> Label:
    """An SME labels a flag they hold the claim on. The claim is released.

    Once `required_labels` SMEs have labelled: all agree -> resolved with that label; otherwise the
    flag waits for adjudication.
    """
    _require(user, SME, "label flags", flag_id=flag.pk)
    _check_verdict(label)
    now = now or timezone.now()
    flag = _locked(flag.pk)
    if flag.status != Flag.Status.OPEN:
        raise Conflict(f"Flag {flag.pk} is {flag.get_status_display().lower()}; it takes no more labels.")
    _check_claim(flag, user, now)
    if flag.labels.filter(sme=user).exists():
        raise Conflict(f"You already labelled flag {flag.pk}.")
    created = Label.objects.create(
        flag=flag,
        sme=user,
        label=label,
        comment=_clean_text(comment, "comment"),
        corrected_answer=_clean_text(corrected_answer, "corrected_answer"),
        created_at=now,
    )
    labels = set(flag.labels.values_list("label", flat=True))
    fields = ["claimed_by", "claimed_until"]
    if flag.labels.count() >= flag.required_labels:
        if len(labels) == 1:
            flag.status, flag.final_label, flag.resolved_at = Flag.Status.RESOLVED, label, now
        else:
            flag.status = Flag.Status.ADJUDICATION
        fields += ["status", "final_label", "resolved_at"]
    flag.claimed_by = None
    flag.claimed_until = None
    flag.save(update_fields=fields)
    return created


@transaction.atomic
def flag_adjudicate(
    *, flag: Flag, user, label: str, comment: str, corrected_answer: str = "", now: dt.datetime | None = None
) -> Adjudication:
    """An SME settles a disagreement; the adjudicated label is final."""
    _require(user, SME, "adjudicate flags", flag_id=flag.pk)
    _check_verdict(label)
    comment = _clean_text(comment, "comment")
    if not comment:
        raise FeedbackError("An adjudication needs a comment saying why this label wins.")
    now = now or timezone.now()
    flag = _locked(flag.pk)
    if flag.status != Flag.Status.ADJUDICATION:
        raise Conflict(f"Flag {flag.pk} is {flag.get_status_display().lower()}; only disagreements are adjudicated.")
    _check_claim(flag, user, now)
    adjudication = Adjudication.objects.create(
        flag=flag,
        adjudicator=user,
        label=label,
        comment=comment,
        corrected_answer=_clean_text(corrected_answer, "corrected_answer"),
        created_at=now,
    )
    flag.status, flag.final_label, flag.resolved_at = Flag.Status.RESOLVED, label, now
    flag.claimed_by = None
    flag.claimed_until = None
    flag.save(update_fields=["status", "final_label", "resolved_at", "claimed_by", "claimed_until"])
    return adjudication


def corrected_answer_for(flag: Flag) -> str:
    """The corrected answer that goes with the final label: the adjudicator's, else a matching label's."""
    adjudication = getattr(flag, "adjudication", None) if flag.status == Flag.Status.RESOLVED else None
    if adjudication is not None and adjudication.corrected_answer:
        return adjudication.corrected_answer
    for lab in flag.labels.order_by("-created_at"):
        if lab.label == flag.final_label and lab.corrected_answer:
            return lab.corrected_answer
    return ""


# --- Promotion ----------------------------------------------------------------------------------


@transaction.atomic
def flag_promote(
    *,
    flag: Flag,
    user,
    category: str,
    reason: str,
    prompt: str | None = None,
    reference_answer: str | None = None,
    tags: list[str] | None = None,
) -> Promotion:
    """Turn a confirmed flag into a draft golden item (source "flag"), keeping lineage to flag and sample.

    `prompt` defaults to the sample's prompt and `reference_answer` to the corrected answer; pass
    edited texts to redact personal data. The item is a draft: goldenset refuses to submit it for
    review while likely personal data in it is neither redacted nor acknowledged.
    """
    from goldenset import services as golden

    _require(user, SME, "promote flags", flag_id=flag.pk)
    flag = _locked(flag.pk)
    if not flag.is_confirmed:
        raise Conflict(
            f"Flag {flag.pk} is not a confirmed problem (status {flag.status}, final label "
            f"{flag.final_label or 'none'}); only confirmed flags are promoted."
        )
    if Promotion.objects.filter(flag=flag).exists():
        raise Conflict(f"Flag {flag.pk} was already promoted to golden item {flag.promotion.golden_item_id}.")
    sample = (ProductionSample.objects.select_related("deployment__team").defer("prompt_embedding", "response_embedding")
              .get(pk=flag.sample_id))
    prompt = _clean_text(prompt if prompt is not None else sample.prompt, "prompt", max_chars=32_000)
    answer = reference_answer if reference_answer is not None else corrected_answer_for(flag)
    answer = _clean_text(answer, "reference_answer", max_chars=64_000)
    if not prompt:
        raise FeedbackError("prompt must not be empty.")
    if not answer:
        raise FeedbackError(
            f"Flag {flag.pk} has no corrected answer: give a reference_answer to promote it into the golden set."
        )
    if not (category or "").strip():
        raise FeedbackError("category must not be empty.")
    if not (reason or "").strip():
        raise FeedbackError("reason must not be empty: say why this item belongs in the golden set.")
    try:
        item = golden.golden_item_create(
            author=user,
            prompt=prompt,
            reference_answer=answer,
            category=category.strip(),
            reason=reason.strip(),
            tags=tags or [],
            source="flag",
            source_sample=sample,
            # The item joins the golden set of the team that owns the flagged sample's deployment.
            team=sample.deployment.team,
        )
    except ValidationError as exc:
        raise FeedbackError("The golden set refused the item: " + "; ".join(exc.messages)) from None
    return Promotion.objects.create(flag=flag, golden_item=item, sample=sample, promoted_by=user)
