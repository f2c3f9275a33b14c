"""Reads of the golden set: items, history, versions and diffs, evaluation runs, coverage gaps.

Every golden set belongs to a team: reads take `user=` and show only the teams the user acts in
(drift_app/roles.py), or take the `team`/`deployment` they serve; another team's object is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from drift_app import embeddings
from drift_app import selectors as drift_selectors
from drift_app.models import Deployment, ProductionSample, Team, default_team_id
from drift_app.stats.clustering import leader_clusters

from .models import (
    EvalResult,
    EvalRun,
    GoldenItem,
    GoldenItemEvent,
    GoldenSetVersion,
    GoldenSetVersionItem,
)

# A production prompt is covered when an approved golden item's prompt is at least this similar.
COVERAGE_RADIUS = 0.70
# Uncovered prompts at least this similar to a cluster's first prompt join that cluster.
GAP_CLUSTER_SIMILARITY = 0.60


def _scoped(qs: QuerySet, *, user, field: str = "team_id") -> QuerySet:
    """Only the golden sets of the teams `user` acts in (drift_app.selectors.team_ids_acting)."""
    ids = drift_selectors.team_ids_acting(user=user)
    return qs if ids is None else qs.filter(**{f"{field}__in": ids})


def golden_team(*, user, slug: str = "") -> Team:
    """The team whose golden set a page or call works on: `slug` when given (404 unless the user acts in it),
    else the user's first team by slug (a superuser: the default team). 404 when the user acts in none."""
    teams = drift_selectors.teams_acting(user=user).order_by("slug")
    if slug:
        return get_object_or_404(teams, slug=slug)
    if user.is_superuser:
        return Team.objects.get(pk=default_team_id())
    team = teams.first()
    if team is None:
        raise Http404("You are in no team with a golden set.")
    return team


def golden_item_list(
    *, user, team: Team | None = None, q: str = "", status: str = "", category: str = "", tag: str = "",
    source: str = "",
) -> QuerySet[GoldenItem]:
    """Items of the teams `user` acts in (of `team` only, when given)."""
    items = _scoped(GoldenItem.objects.select_related("author", "approver", "team").defer("prompt_embedding"),
                    user=user)
    if team is not None:
        items = items.filter(team=team)
    if q:
        items = items.filter(Q(prompt__icontains=q) | Q(reference_answer__icontains=q))
    if status:
        items = items.filter(status=status)
    if category:
        items = items.filter(category=category)
    if tag:
        items = items.filter(tags__contains=[tag])
    if source:
        items = items.filter(source=source)
    return items


def golden_item_get(*, pk: int, user) -> GoldenItem:
    """One item of a team `user` acts in (another team's item is a 404)."""
    return get_object_or_404(golden_item_list(user=user), pk=pk)


def golden_categories(*, user, team: Team | None = None) -> list[str]:
    return list(golden_item_list(user=user, team=team).order_by("category").values_list("category", flat=True)
                .distinct())


def golden_item_history(*, item: GoldenItem) -> QuerySet[GoldenItemEvent]:
    return item.events.select_related("user").order_by("created_at", "id")


def golden_review_queue(*, user, team: Team | None = None) -> QuerySet[GoldenItem]:
    """Items in review; the ones this user may approve (not their own) first, oldest first."""
    from django.db.models import Case, IntegerField, Value, When

    return golden_item_list(user=user, team=team, status=GoldenItem.Status.IN_REVIEW).annotate(
        own=Case(When(author=user, then=Value(1)), default=Value(0), output_field=IntegerField())
    ).order_by("own", "submitted_at", "id")


def golden_embedding_counts(*, team: Team | int) -> dict[str, int]:
    """Items of a team's golden set that are not retired, and how many carry a vector of the current encoder:
    below `total` while a switch of encoder re-embeds them (goldenset.services.golden_items_reembed)."""
    items = GoldenItem.objects.filter(team_id=getattr(team, "pk", team)).exclude(status=GoldenItem.Status.RETIRED)
    return {"total": items.count(),
            "embedded_current": items.filter(prompt_embedding__isnull=False,
                                             embedding_model=embeddings.MODEL_NAME).count()}


def golden_item_similar(*, item: GoldenItem, limit: int = 5) -> list[tuple[GoldenItem, float]]:
    """Live items of the same team whose prompts are nearest to this one's (pgvector, cosine)."""
    from pgvector.django import CosineDistance

    vector = (GoldenItem.objects.filter(pk=item.pk, embedding_model=embeddings.MODEL_NAME)
              .values_list("prompt_embedding", flat=True).first())
    if vector is None:
        return []  # not embedded by the current encoder yet (re-embedding after a switch): nothing comparable
    hits = (GoldenItem.objects.filter(team_id=item.team_id).exclude(pk=item.pk)
            .exclude(status=GoldenItem.Status.RETIRED)
            .filter(prompt_embedding__isnull=False, embedding_model=embeddings.MODEL_NAME)
            .annotate(distance=CosineDistance("prompt_embedding", vector))
            .order_by("distance").defer("prompt_embedding")[:limit])
    return [(h, round(1.0 - float(h.distance), 4)) for h in hits]


def golden_nearest(
    *, vector: np.ndarray, team: Team | int, statuses: tuple[str, ...] | None = None, limit: int = 5, exclude_pk: int | None = None,
) -> list[tuple[GoldenItem, float]]:
    """Items whose prompts are nearest to `vector` (pgvector, cosine; HNSW index), with their similarity.

    Only items of `team` (the golden set belongs to a team). `statuses` narrows to those statuses; by default every item that is not retired.
    """
    from pgvector.django import CosineDistance

    # Vectors of two encoders are never compared: only items embedded by the current one (see golden_embedding_counts).
    hits = GoldenItem.objects.filter(team_id=getattr(team, "pk", team), prompt_embedding__isnull=False,
                                     embedding_model=embeddings.MODEL_NAME).select_related("author", "approver")
    hits = hits.filter(status__in=statuses) if statuses else hits.exclude(status=GoldenItem.Status.RETIRED)
    if exclude_pk is not None:
        hits = hits.exclude(pk=exclude_pk)
    hits = hits.annotate(distance=CosineDistance("prompt_embedding", vector)).order_by("distance").defer(
        "prompt_embedding")[:limit]
    return [(h, round(1.0 - float(h.distance), 4)) for h in hits]


def golden_nearest_to_text(*, text: str, **kwargs) -> list[tuple[GoldenItem, float]]:
    """golden_nearest for a prompt not stored yet (encoded here with the app's encoder)."""
    if not (text or "").strip():
        return []
    return golden_nearest(vector=embeddings.encode([text])[0], **kwargs)


def golden_nearest_to_sample(*, sample: ProductionSample, **kwargs) -> list[tuple[GoldenItem, float]]:
    """golden_nearest for a production prompt (among its deployment team's items): its stored vector when the
    current model made it, else encoded."""
    kwargs.setdefault("team", sample.deployment.team_id)
    row = (ProductionSample.objects.filter(pk=sample.pk)
           .values_list("prompt_embedding", "embedding_model").first())
    if row is not None and row[0] is not None and row[1] == embeddings.MODEL_NAME:
        return golden_nearest(vector=np.asarray(row[0], dtype=np.float32), **kwargs)
    return golden_nearest_to_text(text=sample.prompt, **kwargs)


def golden_version_list(*, team: Team) -> QuerySet[GoldenSetVersion]:
    return GoldenSetVersion.objects.filter(team=team).select_related("created_by").order_by("-number")


def golden_version_get(*, number: int, team: Team) -> GoldenSetVersion:
    return get_object_or_404(GoldenSetVersion, team=team, number=number)


def golden_version_latest(*, team: Team | int) -> GoldenSetVersion | None:
    return GoldenSetVersion.objects.filter(team_id=getattr(team, "pk", team)).order_by("-number").first()


@dataclass(frozen=True)
class VersionDiff:
    old: GoldenSetVersion
    new: GoldenSetVersion
    added: list[GoldenSetVersionItem]
    changed: list[tuple[GoldenSetVersionItem, GoldenSetVersionItem]]
    retired: list[GoldenSetVersionItem]

    def as_dict(self) -> dict:
        def item(vi):
            return {"item_id": vi.item_id, "revision": vi.revision, "prompt": vi.prompt,
                    "reference_answer": vi.reference_answer, "category": vi.category, "item_hash": vi.item_hash}

        return {
            "from": self.old.number, "to": self.new.number,
            "added": [item(v) for v in self.added],
            "changed": [{"before": item(a), "after": item(b)} for a, b in self.changed],
            "retired": [item(v) for v in self.retired],
        }


def golden_version_diff(*, old: GoldenSetVersion, new: GoldenSetVersion) -> VersionDiff:
    """Items added, changed (same item, different content hash) and removed ("retired") from old to new."""
    before = {vi.item_id: vi for vi in old.items.all()}
    after = {vi.item_id: vi for vi in new.items.all()}
    added = [after[i] for i in sorted(after.keys() - before.keys())]
    retired = [before[i] for i in sorted(before.keys() - after.keys())]
    changed = [(before[i], after[i]) for i in sorted(before.keys() & after.keys())
               if before[i].item_hash != after[i].item_hash]
    return VersionDiff(old, new, added, changed, retired)


# --- evaluation runs -------------------------------------------------------------------------------

def eval_run_list(*, deployment: Deployment) -> QuerySet[EvalRun]:
    """Runs of one deployment, newest first (used by the verdict feature)."""
    return EvalRun.objects.filter(deployment=deployment).select_related("golden_version", "baseline_run").order_by(
        "-started_at", "-created_at", "-id"
    )


def eval_run_get(*, pk: int, user) -> EvalRun:
    return get_object_or_404(EvalRun.objects.select_related("deployment", "golden_version", "baseline_run")
                             .filter(deployment__in=drift_selectors.deployments_visible(user=user)), pk=pk)


def eval_baseline_run(*, deployment: Deployment) -> EvalRun | None:
    return EvalRun.objects.filter(deployment=deployment, is_baseline=True).first()


def eval_latest_run(*, deployment: Deployment) -> EvalRun | None:
    return eval_run_list(deployment=deployment).filter(status=EvalRun.Status.SUCCEEDED).first()


def eval_result_list(*, run: EvalRun) -> QuerySet[EvalResult]:
    """Results with regressed items first, then failed, errored, passed."""
    from django.db.models import Case, IntegerField, Value, When

    order = Case(
        When(regressed=True, then=Value(0)), When(outcome="failed", then=Value(1)),
        When(outcome="errored", then=Value(2)), default=Value(3), output_field=IntegerField(),
    )
    return run.results.select_related("version_item").annotate(rank=order).order_by("rank", "version_item__category", "item_id")


# --- coverage gaps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoverageGap:
    size: int
    share: float
    examples: list[str]
    nearest_golden_similarity: float


@dataclass(frozen=True)
class CoverageReport:
    samples: int
    uncovered: int
    radius: float
    gaps: list[CoverageGap]

    @property
    def covered_share(self) -> float:
        return 1.0 - self.uncovered / self.samples if self.samples else 0.0


def coverage_gaps(
    *, deployment: Deployment, radius: float = COVERAGE_RADIUS, sample_limit: int = 5000, max_gaps: int = 20,
    min_size: int = 2,
) -> CoverageReport:
    """Clusters of recent production prompts with no approved golden item within `radius` (cosine).

    The nearest approved item per sample comes from pgvector's HNSW index; uncovered prompts are
    grouped by greedy leader clustering; each gap carries its share of all sampled traffic.
    """
    sample_table = ProductionSample._meta.db_table
    golden_table = GoldenItem._meta.db_table
    sql = f"""
        SELECT s.id, COALESCE((
            SELECT 1 - (g.prompt_embedding <=> s.prompt_embedding) FROM {golden_table} g
            WHERE g.status = 'approved' AND g.prompt_embedding IS NOT NULL AND g.team_id = %s
              AND g.embedding_model = %s
            ORDER BY g.prompt_embedding <=> s.prompt_embedding LIMIT 1), 0)
        FROM (SELECT id, prompt_embedding FROM {sample_table}
              WHERE deployment_id = %s AND prompt_embedding IS NOT NULL AND embedding_model = %s
              ORDER BY client_timestamp DESC LIMIT %s) s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [deployment.team_id, embeddings.MODEL_NAME, deployment.id, embeddings.MODEL_NAME,
                             sample_limit])
        rows = cursor.fetchall()
    nearest = {pk: float(sim) for pk, sim in rows}
    uncovered_ids = sorted(pk for pk, sim in nearest.items() if sim < radius)
    if not uncovered_ids:
        return CoverageReport(len(rows), 0, radius, [])
    ids, vectors = drift_selectors.sample_vectors(deployment=deployment, sample_ids=uncovered_ids)
    labels = leader_clusters(vectors, threshold=GAP_CLUSTER_SIMILARITY)
    prompts = dict(ProductionSample.objects.filter(id__in=ids.tolist()).values_list("id", "prompt"))
    gaps = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < min_size:
            continue
        centroid = vectors[members].mean(axis=0)
        order = members[np.argsort(-(vectors[members] @ centroid))]
        examples, seen = [], set()
        for m in order:
            text = prompts[int(ids[m])]
            if text not in seen:
                seen.add(text)
                examples.append(text)
            if len(examples) == 5:
                break
        gaps.append(CoverageGap(
            size=int(len(members)), share=round(len(members) / len(rows), 4), examples=examples,
            nearest_golden_similarity=round(max(nearest[int(ids[m])] for m in members), 4),
        ))
    gaps.sort(key=lambda g: -g.size)
    return CoverageReport(len(rows), len(uncovered_ids), radius, gaps[:max_gaps])


def golden_items_by_ids(*, ids: list[int], user) -> list[GoldenItem]:
    """The items with these ids among the teams `user` acts in (others are simply absent)."""
    return list(golden_item_list(user=user).filter(pk__in=ids).order_by("pk"))


# --- judge calibration against SMEs ----------------------------------------------------------------

# SMEs judge answers in more places than the calibration page: feedback's flag labels and adjudications
# on production answers the judge also graded. Those layers sit above goldenset (which may not import
# them), so they register a source here: name -> callable(deployment=) returning (EvalResult id, SME
# says the answer passes) pairs for judged results of that deployment. feedback registers "flag labels"
# in its AppConfig.ready().
JUDGE_CALIBRATION_SOURCES: dict = {}
CALIBRATION_PAGE_SOURCE = "calibration page"


def judge_calibration_source_register(name: str, fn) -> None:
    if name == CALIBRATION_PAGE_SOURCE:
        raise ValueError(f"{name!r} is the built-in source")
    JUDGE_CALIBRATION_SOURCES[name] = fn


def _calibration_page_pairs(*, deployment: Deployment) -> list[tuple[int, bool]]:
    from .models import JudgeCalibrationLabel

    return list(JudgeCalibrationLabel.objects.filter(result__run__deployment=deployment)
                .values_list("result_id", "passed"))


def judge_calibration(*, deployment: Deployment) -> list[dict]:
    """Agreement of each judge series (judge model, rubric version) with SMEs on this deployment's items.

    SME judgements come from every source: the calibration page's labels and the registered sources
    (flag labels). One entry per series, newest first: {"judge_model", "judge_prompt_version",
    "agreement": JudgeAgreement dict (n, kappa with 95% interval, confusion matrix, calibrated, reason),
    "min_kappa", "sources": {source: items}}. An item judged by several SMEs (or sources) counts once,
    with the majority of their labels (ties: fail).
    """
    from drift_app.stats.scoring import judge_agreement

    from .models import EvalConfig

    config = EvalConfig.objects.filter(deployment=deployment).first()
    min_kappa = config.judge_min_kappa if config else 0.6
    sme: dict[int, list[bool]] = {}
    sources: dict[int, set[str]] = {}
    all_sources = {CALIBRATION_PAGE_SOURCE: _calibration_page_pairs, **JUDGE_CALIBRATION_SOURCES}
    for name, fn in all_sources.items():
        for result_id, passed in fn(deployment=deployment):
            sme.setdefault(result_id, []).append(bool(passed))
            sources.setdefault(result_id, set()).add(name)
    judged = (EvalResult.objects.filter(pk__in=list(sme), run__deployment=deployment, judge_passed__isnull=False)
              .exclude(judge_model="")
              .values_list("pk", "judge_model", "judge_prompt_version", "judge_passed", "run__created_at"))
    series: dict[tuple[str, str], list[tuple[bool, bool, set]]] = {}
    latest: dict[tuple[str, str], object] = {}
    for pk, model, version, judge_passed, created in judged:
        key = (model, version)
        labels = sme[pk]
        series.setdefault(key, []).append((judge_passed, sum(labels) * 2 > len(labels), sources[pk]))
        latest[key] = max(latest.get(key, created), created)
    out = []
    for key in sorted(series, key=lambda k: latest[k], reverse=True):
        pairs = series[key]
        counts = {name: sum(1 for *_, src in pairs if name in src) for name in all_sources}
        out.append({"judge_model": key[0], "judge_prompt_version": key[1], "min_kappa": min_kappa,
                    "sources": {k: v for k, v in counts.items() if v},
                    "agreement": judge_agreement([j for j, _, _ in pairs], [s for _, s, _ in pairs],
                                                 min_kappa=min_kappa).to_dict()})
    return out


def judge_calibration_status(*, deployment: Deployment, judge_model: str, judge_prompt_version: str) -> dict:
    """The agreement of one judge series (uncalibrated with n=0 when no SME has labelled any of its items)."""
    from drift_app.stats.scoring import judge_agreement

    for entry in judge_calibration(deployment=deployment):
        if (entry["judge_model"], entry["judge_prompt_version"]) == (judge_model, judge_prompt_version):
            return entry["agreement"]
    return judge_agreement([], []).to_dict()


def judge_calibration_queue(*, deployment: Deployment, user, limit: int = 30) -> QuerySet[EvalResult]:
    """Judged items of the deployment's latest judged run that `user` has not labelled yet (the calibration page)."""
    run = (EvalRun.objects.filter(deployment=deployment, status=EvalRun.Status.SUCCEEDED).exclude(judge_model="")
           .order_by("-created_at", "-id").first())
    if run is None:
        return EvalResult.objects.none()
    return (EvalResult.objects.filter(run=run, judge_passed__isnull=False)
            .exclude(calibration_labels__labelled_by=user).select_related("version_item").order_by("item_id")[:limit])


def eval_result_get(*, deployment: Deployment, pk: int) -> EvalResult:
    """One result of one of the deployment's runs (404 otherwise: results are scoped by deployment)."""
    return get_object_or_404(EvalResult.objects.select_related("run", "version_item"), pk=pk, run__deployment=deployment)
