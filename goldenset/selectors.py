"""Reads of the golden set: items, history, versions and diffs, evaluation runs, coverage gaps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from drift_app import embeddings
from drift_app import selectors as drift_selectors
from drift_app.models import Deployment, ProductionSample
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


def golden_item_list(
    *, q: str = "", status: str = "", category: str = "", tag: str = "", source: str = "",
) -> QuerySet[GoldenItem]:
    items = GoldenItem.objects.select_related("author", "approver").defer("prompt_embedding")
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


def golden_item_get(*, pk: int) -> GoldenItem:
    return get_object_or_404(GoldenItem.objects.select_related("author", "approver").defer("prompt_embedding"), pk=pk)


def golden_categories() -> list[str]:
    return list(GoldenItem.objects.order_by("category").values_list("category", flat=True).distinct())


def golden_item_history(*, item: GoldenItem) -> QuerySet[GoldenItemEvent]:
    return item.events.select_related("user").order_by("created_at", "id")


def golden_review_queue(*, user) -> QuerySet[GoldenItem]:
    """Items in review; the ones this user may approve (not their own) first, oldest first."""
    from django.db.models import Case, IntegerField, Value, When

    return golden_item_list(status=GoldenItem.Status.IN_REVIEW).annotate(
        own=Case(When(author=user, then=Value(1)), default=Value(0), output_field=IntegerField())
    ).order_by("own", "submitted_at", "id")


def golden_item_similar(*, item: GoldenItem, limit: int = 5) -> list[tuple[GoldenItem, float]]:
    """Live items whose prompts are nearest to this one's (pgvector, cosine)."""
    from pgvector.django import CosineDistance

    vector = GoldenItem.objects.filter(pk=item.pk).values_list("prompt_embedding", flat=True).first()
    if vector is None:
        return []
    hits = (GoldenItem.objects.exclude(pk=item.pk).exclude(status=GoldenItem.Status.RETIRED)
            .filter(prompt_embedding__isnull=False).annotate(distance=CosineDistance("prompt_embedding", vector))
            .order_by("distance").defer("prompt_embedding")[:limit])
    return [(h, round(1.0 - float(h.distance), 4)) for h in hits]


def golden_nearest(
    *, vector: np.ndarray, statuses: tuple[str, ...] | None = None, limit: int = 5, exclude_pk: int | None = None,
) -> list[tuple[GoldenItem, float]]:
    """Items whose prompts are nearest to `vector` (pgvector, cosine; HNSW index), with their similarity.

    `statuses` narrows to those statuses; by default every item that is not retired.
    """
    from pgvector.django import CosineDistance

    hits = GoldenItem.objects.filter(prompt_embedding__isnull=False).select_related("author", "approver")
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
    """golden_nearest for a production prompt: its stored vector when the current model made it, else encoded."""
    row = (ProductionSample.objects.filter(pk=sample.pk)
           .values_list("prompt_embedding", "embedding_model").first())
    if row is not None and row[0] is not None and row[1] == embeddings.MODEL_NAME:
        return golden_nearest(vector=np.asarray(row[0], dtype=np.float32), **kwargs)
    return golden_nearest_to_text(text=sample.prompt, **kwargs)


def golden_version_list() -> QuerySet[GoldenSetVersion]:
    return GoldenSetVersion.objects.select_related("created_by").order_by("-number")


def golden_version_get(*, number: int) -> GoldenSetVersion:
    return get_object_or_404(GoldenSetVersion, number=number)


def golden_version_latest() -> GoldenSetVersion | None:
    return GoldenSetVersion.objects.order_by("-number").first()


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
            WHERE g.status = 'approved' AND g.prompt_embedding IS NOT NULL
            ORDER BY g.prompt_embedding <=> s.prompt_embedding LIMIT 1), 0)
        FROM (SELECT id, prompt_embedding FROM {sample_table}
              WHERE deployment_id = %s AND prompt_embedding IS NOT NULL AND embedding_model = %s
              ORDER BY client_timestamp DESC LIMIT %s) s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [deployment.id, embeddings.MODEL_NAME, sample_limit])
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


def golden_items_by_ids(*, ids: list[int]) -> list[GoldenItem]:
    return list(GoldenItem.objects.filter(pk__in=ids).order_by("pk"))


# --- judge calibration against SMEs ----------------------------------------------------------------

def judge_calibration(*, deployment: Deployment) -> list[dict]:
    """Agreement of each judge series (judge model, rubric version) with SMEs on this deployment's items.

    One entry per series, newest first: {"judge_model", "judge_prompt_version", "agreement": JudgeAgreement
    dict (n, kappa with 95% interval, confusion matrix, calibrated, reason), "min_kappa"}. An item labelled
    by several SMEs counts once, with the majority label (ties: fail).
    """
    from drift_app.stats.scoring import judge_agreement

    from .models import EvalConfig, JudgeCalibrationLabel

    config = EvalConfig.objects.filter(deployment=deployment).first()
    min_kappa = config.judge_min_kappa if config else 0.6
    labels = (JudgeCalibrationLabel.objects.filter(result__run__deployment=deployment, result__judge_passed__isnull=False)
              .values_list("judge_model", "judge_prompt_version", "result_id", "result__judge_passed", "passed",
                           "created_at"))
    series: dict[tuple[str, str], dict[int, list]] = {}
    latest: dict[tuple[str, str], object] = {}
    for model, version, result_id, judge_passed, sme_passed, created in labels:
        key = (model, version)
        series.setdefault(key, {}).setdefault(result_id, [judge_passed, []])[1].append(sme_passed)
        latest[key] = max(latest.get(key, created), created)
    out = []
    for key in sorted(series, key=lambda k: latest[k], reverse=True):
        pairs = series[key].values()
        judge = [j for j, _ in pairs]
        sme = [sum(v) * 2 > len(v) for _, v in pairs]
        out.append({"judge_model": key[0], "judge_prompt_version": key[1], "min_kappa": min_kappa,
                    "agreement": judge_agreement(judge, sme, min_kappa=min_kappa).to_dict()})
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
