"""Reads for human feedback: queues, agreement inputs, metrics, evidence."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from drift_app import selectors as drift_selectors
from drift_app.models import Deployment, ProductionSample
from drift_app.stats import agreement

from .filters import MyFlagFilter, SampleFilter
from .models import (
    BAD_VERDICTS,
    REASON_SEVERITY,
    DeploymentFeedbackSettings,
    Flag,
    Label,
    LabelChoice,
    Promotion,
    Reason,
)

# Two answers this close (cosine distance of their response vectors) count as near-identical in triage.
NEAR_IDENTICAL_DISTANCE = 0.05

WINDOWS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


def feedback_settings(*, deployment: Deployment) -> DeploymentFeedbackSettings:
    """The deployment's settings row, or an unsaved one with the defaults."""
    found = DeploymentFeedbackSettings.objects.filter(deployment=deployment).first()
    return found or DeploymentFeedbackSettings(deployment=deployment)


def _flag_base() -> QuerySet[Flag]:
    return Flag.objects.select_related("sample", "deployment", "flagged_by", "claimed_by", "promotion").defer(
        "sample__prompt_embedding", "sample__response_embedding"
    )


def flag_get(*, flag_id: int, user) -> Flag:
    """One flag, 404 when it is of a deployment outside `user`'s teams."""
    return get_object_or_404(
        _flag_base().filter(deployment__in=drift_selectors.deployments_visible(user=user)).select_related("adjudication__adjudicator").prefetch_related(
            Prefetch("labels", queryset=Label.objects.select_related("sme"))
        ),
        pk=flag_id,
    )


def flag_others(*, flag: Flag) -> QuerySet[Flag]:
    """The other users' flags on the same sample."""
    return Flag.objects.filter(sample_id=flag.sample_id).exclude(pk=flag.pk).select_related("flagged_by")


def adjudicated_flags(*, deployment: Deployment | None = None, limit: int = 50, viewer=None) -> QuerySet[Flag]:
    flags = Flag.objects.filter(adjudication__isnull=False)
    if viewer is not None:  # only the deployments of the viewer's teams
        flags = flags.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if deployment is not None:
        flags = flags.filter(deployment=deployment)
    return (
        flags.select_related("adjudication__adjudicator", "sample")
        .defer("sample__prompt_embedding", "sample__response_embedding")
        .prefetch_related("labels__sme")[:limit]
    )


def flag_list(
    *, user=None, deployment: Deployment | None = None, status: str | None = None, viewer=None
) -> QuerySet[Flag]:
    """Flags, newest first; `user` narrows to one user's own flags, `viewer` to the viewer's teams' deployments."""
    qs = _flag_base().select_related("adjudication").prefetch_related("labels")
    if viewer is not None:
        qs = qs.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if user is not None:
        qs = qs.filter(flagged_by=user)
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def sample_explorer(*, viewer, data) -> SampleFilter:
    """The sample explorer's filter set over the samples of `viewer`'s teams' deployments (see feedback.filters)."""
    return SampleFilter(data, viewer=viewer)


def my_flags(*, user, data) -> MyFlagFilter:
    """`user`'s own flags, filtered by deployment, status and text (see feedback.filters)."""
    return MyFlagFilter(data, user=user)


def user_flag_for_sample(*, user, sample: ProductionSample) -> Flag | None:
    return Flag.objects.filter(flagged_by=user, sample=sample).select_related("promotion").first()


def sample_flag_count(*, sample: ProductionSample) -> int:
    return Flag.objects.filter(sample=sample).count()


# --- Triage ------------------------------------------------------------------------------------

_NEAR_SQL = f"""
SELECT f.id, count(g.id)
FROM {Flag._meta.db_table} f
JOIN {ProductionSample._meta.db_table} s ON s.id = f.sample_id
JOIN {Flag._meta.db_table} g ON g.deployment_id = f.deployment_id AND g.status <> 'resolved'
JOIN {ProductionSample._meta.db_table} t ON t.id = g.sample_id
WHERE f.id = ANY(%s)
  AND (g.sample_id = f.sample_id
       OR (s.embedding_model = t.embedding_model
           AND s.response_embedding IS NOT NULL AND t.response_embedding IS NOT NULL
           AND (s.response_embedding <=> t.response_embedding) <= %s))
GROUP BY f.id
"""


def near_identical_flag_counts(*, flag_ids: list[int], max_distance: float = NEAR_IDENTICAL_DISTANCE) -> dict[int, int]:
    """For each flag: how many unresolved flags (itself included) land on the same or a near-identical answer.

    Near-identical: cosine distance of the response vectors (pgvector `<=>`) at most `max_distance`,
    vectors of the same embedding model only. A sample not embedded yet matches its own flags only.
    """
    if not flag_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_NEAR_SQL, [list(flag_ids), max_distance])
        return dict(cursor.fetchall())


@dataclass(frozen=True)
class TriageItem:
    flag: Flag
    near_identical: int  # unresolved flags on this or a near-identical answer, this one included
    severity: int
    age: dt.timedelta
    labels_done: int
    labelled_by_me: bool
    claimed_by_other: bool
    claimed_by_me: bool


def triage_queue(*, user, deployment: Deployment | None = None, limit: int = 200) -> list[TriageItem]:
    """Unresolved flags in priority order.

    Priority (documented on the triage page): first the number of unresolved flags that land on the
    same or a near-identical answer (many reports of one failure outrank a single report), then the
    reason's severity (harmful > incorrect > outdated > unhelpful > other), then age (oldest first).
    Flags awaiting adjudication come along with the rest; `labelled_by_me` says whether `user` has
    already given their label (and so may only adjudicate, not label again).
    """
    now = timezone.now()
    # Only the deployments of the caller's teams.
    qs = _flag_base().exclude(status=Flag.Status.RESOLVED).filter(
        deployment__in=drift_selectors.deployments_visible(user=user))
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    flags = list(qs.prefetch_related("labels"))
    counts = near_identical_flag_counts(flag_ids=[f.id for f in flags])
    items = []
    for f in flags:
        label_smes = {lab.sme_id for lab in f.labels.all()}
        claimed = f.claim_active(now)
        items.append(
            TriageItem(
                flag=f,
                near_identical=counts.get(f.id, 1),
                severity=REASON_SEVERITY[f.reason],
                age=now - f.created_at,
                labels_done=len(label_smes),
                labelled_by_me=user.pk in label_smes,
                claimed_by_other=claimed and f.claimed_by_id != user.pk,
                claimed_by_me=claimed and f.claimed_by_id == user.pk,
            )
        )
    items.sort(key=lambda i: (-i.near_identical, -i.severity, i.flag.created_at, i.flag.id))
    return items[:limit]


# --- Agreement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairAgreement:
    sme_a: str
    sme_b: str
    n_items: int
    kappa: float
    observed: float


@dataclass(frozen=True)
class GroupAgreement:
    group: str
    n_flags: int
    alpha: float


@dataclass(frozen=True)
class AgreementReport:
    n_flags: int  # flags with at least two labels
    overall_alpha: float
    pairs: list[PairAgreement]
    by_reason: list[GroupAgreement]  # alpha per flag reason (the flag's category)
    by_label: list[GroupAgreement]  # alpha of "this label vs any other", per label
    disagreements: int
    adjudicated: int


def agreement_report(*, deployment: Deployment | None = None, viewer=None) -> AgreementReport:
    """Cohen's kappa per SME pair and Krippendorff's alpha over multiply-labelled flags."""
    qs = Label.objects.select_related("sme", "flag")
    if viewer is not None:
        qs = qs.filter(flag__deployment__in=drift_selectors.deployments_visible(user=viewer))
    if deployment is not None:
        qs = qs.filter(flag__deployment=deployment)
    by_flag: dict[int, dict[int, str]] = defaultdict(dict)
    reason_of: dict[int, str] = {}
    names: dict[int, str] = {}
    for lab in qs.order_by("flag_id", "id"):
        by_flag[lab.flag_id][lab.sme_id] = lab.label
        reason_of[lab.flag_id] = lab.flag.reason
        names[lab.sme_id] = lab.sme.get_username()
    multi = {fid: labels for fid, labels in by_flag.items() if len(labels) >= 2}
    smes = sorted(names, key=lambda uid: names[uid])
    flag_ids = sorted(multi)

    def alpha_of(fids: list[int], mapper=lambda v: v) -> float:
        table = [[mapper(multi[fid][s]) if s in multi[fid] else None for fid in fids] for s in smes]
        return agreement.krippendorff_alpha_nominal(table).alpha if fids else math.nan

    pairs = []
    for a, b in itertools.combinations(smes, 2):
        both = [fid for fid in flag_ids if a in multi[fid] and b in multi[fid]]
        if not both:
            continue
        k = agreement.cohen_kappa([multi[f][a] for f in both], [multi[f][b] for f in both])
        pairs.append(PairAgreement(names[a], names[b], len(both), k.kappa, k.observed))

    by_reason = []
    for reason in Reason:
        fids = [fid for fid in flag_ids if reason_of[fid] == reason.value]
        if fids:
            by_reason.append(GroupAgreement(reason.label, len(fids), alpha_of(fids)))
    by_label = [
        GroupAgreement(v.label, len(flag_ids), alpha_of(flag_ids, lambda x, v=v.value: x == v))
        for v in LabelChoice
        if any(v.value in labels.values() for labels in multi.values())
    ]
    disagreements = sum(1 for labels in multi.values() if len(set(labels.values())) > 1)
    adjudicated = Flag.objects.filter(id__in=flag_ids, adjudication__isnull=False).count()
    return AgreementReport(
        n_flags=len(flag_ids),
        overall_alpha=alpha_of(flag_ids),
        pairs=pairs,
        by_reason=by_reason,
        by_label=by_label,
        disagreements=disagreements,
        adjudicated=adjudicated,
    )


# --- Metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowMetrics:
    """Feedback figures for the samples a deployment served in [start, end).

    Every rate is per served sample (a sample counts once however many users flagged it), with a 95%
    Wilson interval. A sample is confirmed bad when a resolved flag on it ended `confirmed_bad` or
    `policy_violation`, outdated when one ended `outdated_knowledge`. `pending` counts flagged samples
    with a flag not yet resolved: until it is 0 the confirmed rates are lower bounds.
    """

    start: dt.datetime
    end: dt.datetime
    samples: int
    flags: int
    flagged_samples: int
    pending: int
    flag_rate: agreement.Proportion
    confirmed_bad_rate: agreement.Proportion
    outdated_rate: agreement.Proportion


_METRICS_SQL = f"""
WITH fs AS (
    SELECT sample_id,
           count(*) AS n,
           bool_or(status = 'resolved' AND final_label = ANY(%(bad)s)) AS bad,
           bool_or(status = 'resolved' AND final_label = %(outdated)s) AS outdated,
           bool_or(status <> 'resolved') AS pending
    FROM {Flag._meta.db_table}
    WHERE deployment_id = %(deployment)s
    GROUP BY sample_id
)
SELECT floor(extract(epoch FROM s.client_timestamp - %(start)s) / %(width)s)::bigint AS bucket,
       count(*),
       coalesce(sum(fs.n), 0),
       count(fs.sample_id),
       count(*) FILTER (WHERE fs.pending),
       count(*) FILTER (WHERE fs.bad),
       count(*) FILTER (WHERE fs.outdated)
FROM {ProductionSample._meta.db_table} s
LEFT JOIN fs ON fs.sample_id = s.id
WHERE s.deployment_id = %(deployment)s AND s.client_timestamp >= %(start)s AND s.client_timestamp < %(end)s
GROUP BY bucket
"""


def _metrics_rows(*, deployment: Deployment, start: dt.datetime, end: dt.datetime, width: dt.timedelta) -> dict:
    params = {
        "bad": [v.value for v in BAD_VERDICTS],
        "outdated": LabelChoice.OUTDATED_KNOWLEDGE.value,
        "deployment": deployment.id,
        "start": start,
        "end": end,
        "width": width.total_seconds(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_METRICS_SQL, params)
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _window_metrics(start, end, row) -> WindowMetrics:
    samples, flags, flagged, pending, bad, outdated = row or (0, 0, 0, 0, 0, 0)
    return WindowMetrics(
        start=start,
        end=end,
        samples=samples,
        flags=int(flags),
        flagged_samples=flagged,
        pending=pending,
        flag_rate=agreement.wilson_interval(flagged, samples),
        confirmed_bad_rate=agreement.wilson_interval(bad, samples),
        outdated_rate=agreement.wilson_interval(outdated, samples),
    )


def _check_range(start: dt.datetime, end: dt.datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must carry a time zone")
    if end <= start:
        raise ValueError("end must be after start")


def feedback_metrics(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> WindowMetrics:
    """Flag rate, confirmed-bad rate and outdated-knowledge rate of the samples served in [start, end)."""
    _check_range(start, end)
    rows = _metrics_rows(deployment=deployment, start=start, end=end, width=end - start)
    return _window_metrics(start, end, rows.get(0))


def feedback_metrics_series(
    *, deployment: Deployment, start: dt.datetime, end: dt.datetime, window: str = "daily"
) -> list[WindowMetrics]:
    """`feedback_metrics` for consecutive windows of `window` ("daily" or "weekly") from start; the last may be short."""
    _check_range(start, end)
    width = WINDOWS[window]
    rows = _metrics_rows(deployment=deployment, start=start, end=end, width=width)
    out = []
    i = 0
    while start + i * width < end:
        w_start = start + i * width
        out.append(_window_metrics(w_start, min(w_start + width, end), rows.get(i)))
        i += 1
    return out


# --- Evidence -----------------------------------------------------------------------------------


def referenced_sample_ids(*, deployment: Deployment) -> set[int]:
    """Samples of `deployment` that are evidence: flagged, promoted, or the source of a golden item.

    A retention or clean-up job must exclude these; the PROTECT foreign keys make a delete fail anyway.
    """
    ids = set(Flag.objects.filter(deployment=deployment).values_list("sample_id", flat=True))
    ids |= set(Promotion.objects.filter(sample__deployment=deployment).values_list("sample_id", flat=True))
    from goldenset.models import GoldenItem

    ids |= set(
        GoldenItem.objects.filter(source_sample__deployment=deployment).values_list("source_sample_id", flat=True)
    )
    return ids


# --- SME judgements of answers the golden-set judge also graded (judge calibration) ------------------

def judge_calibration_pairs(*, deployment: Deployment) -> list[tuple[int, bool]]:
    """(EvalResult id, SME says the answer passes) for judged golden answers that SMEs judged through flags.

    A resolved flag's final label (the SMEs' labels, or the adjudication) judges one production answer:
    "not a problem" passes it, any confirmed label fails it. The judge graded the same answer when a
    judged result of this deployment answers the same prompt with the same text (both normalised), or
    answers the golden item that flag was promoted into with the flagged answer's text. Registered as
    the "flag labels" source of goldenset.selectors.judge_calibration (goldenset may not import feedback).
    """
    from drift_app.stats.scoring import normalise
    from goldenset.models import EvalResult

    flags = (Flag.objects.filter(deployment=deployment, status=Flag.Status.RESOLVED).exclude(final_label="")
             .values_list("sample__prompt", "sample__response", "final_label", "promotion__golden_item_id"))
    by_text: dict[tuple[str, str], list[bool]] = {}
    by_item: dict[tuple[int, str], list[bool]] = {}
    for prompt, response, label, item_id in flags:
        passed = label == LabelChoice.NOT_A_PROBLEM
        answer = normalise(response)
        by_text.setdefault((normalise(prompt), answer), []).append(passed)
        if item_id is not None:
            by_item.setdefault((item_id, answer), []).append(passed)
    if not by_text:
        return []
    judged = (EvalResult.objects.filter(run__deployment=deployment, judge_passed__isnull=False, answer__isnull=False)
              .order_by("-run__created_at", "-pk")
              .values_list("pk", "item_id", "version_item__prompt", "answer", "judge_model", "judge_prompt_version"))
    out, seen = [], set()
    for pk, item_id, prompt, answer, model, version in judged.iterator(chunk_size=2000):
        answer = normalise(answer)
        labels = by_item.get((item_id, answer)) or by_text.get((normalise(prompt), answer))
        # The same answer graded again by the same judge (every scheduled run) is one judgement, not many:
        # only the latest counts, so repeated runs cannot inflate n.
        if not labels or (item_id, answer, model, version) in seen:
            continue
        seen.add((item_id, answer, model, version))
        out.extend((pk, passed) for passed in labels)
    return out
