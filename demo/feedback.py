"""Demo scenario for human feedback: flags across the demo weeks, SME labels, one adjudicated
disagreement, one promotion into the golden set.

Everything goes through feedback.services (the same checks as in production); only timestamps are
moved back afterwards so the flags sit in the weeks their answers were served.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from drift_app.models import Deployment, ProductionSample
from feedback import services
from feedback.models import DeploymentFeedbackSettings, Flag, LabelChoice

# Corrections for the demo's v3 answers that are wrong (see demo.generator): phrase in the wrong answer -> fix.
CORRECTIONS = {
    "not encrypted at rest": (
        "Yes: data is encrypted at rest with AES-256 and in transit with TLS 1.3. Access logs are kept 90 days; "
        "to rotate a key, create the new key first, then revoke the old one."
    ),
    "no discount for annual billing": "Plans are billed monthly at the list price; annual billing saves 15%.",
    "cannot be refunded": (
        "Open Billing → Invoices: each charge lists the project. Duplicate charges are refunded within 5 business "
        "days once you open a ticket."
    ),
}
GENERIC_CORRECTION = "The answer should follow the current product documentation; see the linked help article."


def _correction(response: str) -> str:
    for phrase, fix in CORRECTIONS.items():
        if phrase in response:
            return fix
    return GENERIC_CORRECTION


def _is_wrong(sample: ProductionSample) -> bool:
    """Whether the answer states one of the wrong facts (read from its text, never from its model version)."""
    return any(phrase in sample.response for phrase in CORRECTIONS)


# The SMEs' error model, stated rather than scripted: the label of each flag is an independent draw in which a
# wrong answer is recognised as bad with probability SME_SENSITIVITY and a right answer is called bad
# with probability SME_FALSE_BAD. Nothing in the labelling looks at the model version.
SME_SENSITIVITY = 0.9
SME_FALSE_BAD = 0.15


def load_demo(*, deployment: Deployment, users: dict[str, list], start: dt.datetime, end: dt.datetime) -> None:
    """Flags from power users on samples served in [start, end), more in the last week (model v3 answers
    wrongly there); SME labels, a third of them by two SMEs, one disagreement adjudicated; one promotion.

    `users` is keyed by role ("power_user", "sme", ...). Runs in seconds; safe to call on an empty deployment.
    """
    power_users = list(users.get("power_user") or [])
    smes = list(users.get("sme") or [])
    if not power_users:
        return
    rng = random.Random(11)
    last_week = end - dt.timedelta(days=7)
    samples = list(
        ProductionSample.objects.filter(deployment=deployment, client_timestamp__gte=start, client_timestamp__lt=end)
        .defer("prompt_embedding", "response_embedding")
        .order_by("client_timestamp", "id")
    )
    if not samples:
        return
    recent = [s for s in samples if s.client_timestamp >= last_week]
    # Users notice wrong answers (whatever model gave them) and flag them.
    recent_wrong = [s for s in recent if _is_wrong(s)] or recent
    older = [s for s in samples if s.client_timestamp < last_week]
    picks: list[tuple[ProductionSample, str]] = []
    # The last week: model v3 answers billing and security questions wrongly; users notice.
    for s in rng.sample(recent_wrong, min(24, len(recent_wrong))):
        picks.append((s, rng.choice(["incorrect", "incorrect", "outdated", "harmful"])))
    # Earlier weeks: the background of occasional flags, mostly about taste.
    for s in rng.sample(older, min(12, len(older))):
        picks.append((s, rng.choice(["unhelpful", "unhelpful", "other", "incorrect"])))

    with transaction.atomic():
        DeploymentFeedbackSettings.objects.get_or_create(deployment=deployment)
        flags: list[Flag] = []
        for i, (sample, reason) in enumerate(picks):
            user = power_users[i % len(power_users)]
            flag = services.flag_create(
                sample=sample, user=user, reason=reason,
                comment="The price and refund rules changed last month." if reason == "outdated" else "",
            )
            flagged_at = min(sample.client_timestamp + dt.timedelta(hours=rng.uniform(0.5, 30)), end)
            Flag.objects.filter(pk=flag.pk).update(created_at=flagged_at)
            flag.created_at = flagged_at
            flags.append(flag)
        # Same answer, second reporter: the triage queue ranks it up.
        if len(power_users) > 1 and flags:
            other = next(u for u in power_users if u.pk != flags[0].flagged_by_id)
            services.flag_create(sample=flags[0].sample, user=other, reason="incorrect", comment="Same here.")
        if not smes:
            return
        _label_all(flags=flags, smes=smes, end=end, rng=rng)


def _label_all(*, flags: list[Flag], smes: list, end: dt.datetime, rng: random.Random) -> None:
    # A second opinion on every third flag (overlap 2 for those) so agreement can be measured;
    # the newest few stay open for the triage queue.
    open_tail = 4
    to_label = sorted(flags, key=lambda f: f.created_at)[: max(0, len(flags) - open_tail)]
    double = {f.pk for i, f in enumerate(to_label) if i % 3 == 0} if len(smes) > 1 else set()
    Flag.objects.filter(pk__in=double).update(required_labels=2)
    disagreement_done = False
    promoted = False
    for flag in to_label:
        flag.refresh_from_db()
        wrong = _is_wrong(flag.sample)
        says_bad = rng.random() < (SME_SENSITIVITY if wrong else SME_FALSE_BAD)
        if says_bad:
            verdict = LabelChoice.CONFIRMED_BAD if flag.reason != "outdated" else LabelChoice.OUTDATED_KNOWLEDGE
        else:
            verdict = LabelChoice.NOT_A_PROBLEM
        corrected = _correction(flag.sample.response) if verdict != LabelChoice.NOT_A_PROBLEM else ""
        when = min(flag.created_at + dt.timedelta(hours=rng.uniform(2, 20)), end)
        smes_for_flag = smes[:2] if flag.pk in double else [smes[flag.pk % len(smes)]]
        for n, sme in enumerate(smes_for_flag):
            label = verdict
            # One honest disagreement: is a wrong answer "bad" or "outdated knowledge"?
            if n == 1 and wrong and not disagreement_done and verdict == LabelChoice.CONFIRMED_BAD:
                label = LabelChoice.OUTDATED_KNOWLEDGE
                disagreement_done = True
            t = when + dt.timedelta(minutes=30 * n)
            services.flag_claim(flag=flag, user=sme, now=t)
            services.flag_label(
                flag=flag, user=sme, label=label, now=t + dt.timedelta(minutes=4),
                comment="Checked against the pricing and security pages." if label != LabelChoice.NOT_A_PROBLEM
                else "Answer is fine; the user wanted more detail.",
                corrected_answer=corrected if label != LabelChoice.NOT_A_PROBLEM else "",
            )
        flag.refresh_from_db()
        if flag.status == Flag.Status.ADJUDICATION:
            t = when + dt.timedelta(hours=3)
            services.flag_claim(flag=flag, user=smes[0], now=t)
            services.flag_adjudicate(
                flag=flag, user=smes[0], label=LabelChoice.CONFIRMED_BAD, now=t + dt.timedelta(minutes=10),
                comment="The policy did not change; v3 states it wrongly. A model fault, not outdated knowledge.",
                corrected_answer=corrected,
            )
            flag.refresh_from_db()
        if not promoted and flag.final_label == LabelChoice.CONFIRMED_BAD and "not encrypted" in flag.sample.response:
            services.flag_promote(
                flag=flag, user=smes[0], category="security",
                reason="v3 denies encryption at rest; keep this question in the golden set.",
                tags=["from-feedback", "encryption"],
            )
            promoted = True
    if not promoted:
        confirmed = Flag.objects.filter(pk__in=[f.pk for f in to_label], final_label=LabelChoice.CONFIRMED_BAD).first()
        if confirmed is not None:
            services.flag_promote(
                flag=confirmed, user=smes[0], category=confirmed.sample.metadata.get("category", "general"),
                reason="Confirmed bad answer from user feedback.", tags=["from-feedback"],
                reference_answer=services.corrected_answer_for(confirmed) or GENERIC_CORRECTION,
            )
