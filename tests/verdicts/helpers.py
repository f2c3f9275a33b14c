"""Builders for verdict tests: windows, drift runs, golden evaluations and flags stored directly.

The statistics themselves are tested in tests/stats and tests/drift; here only their stored results
matter, so drift runs and evaluation runs are written as the engines would leave them.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from drift_app import services as drift_services
from drift_app.models import Baseline, DriftRun, ProductionSample
from feedback.models import Flag
from goldenset.models import (
    EvalResult,
    EvalRun,
    GoldenItem,
    GoldenSetVersion,
    GoldenSetVersionItem,
)
from tests import factories

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)  # a Monday: window 0 starts here
_seq = itertools.count(1)


def window(i: int) -> tuple[dt.datetime, dt.datetime]:
    return T0 + dt.timedelta(weeks=i), T0 + dt.timedelta(weeks=i + 1)


class World:
    """A deployment with a fitted baseline (weeks -3..0), a golden-set version and helpers per window."""

    def __init__(self, author, **deployment_fields):
        self.deployment = factories.deployment(drift_window="weekly", **deployment_fields)
        self.author = author
        self.baseline = Baseline.objects.create(
            deployment=self.deployment, period_start=T0 - dt.timedelta(weeks=3), period_end=T0,
            status=Baseline.Status.FITTED, is_active=True,
        )
        self.version = GoldenSetVersion.objects.create(
            number=next(_seq) + 1000, content_hash="0" * 64, item_count=10, reason="test", created_by=author,
        )
        self.items = []
        for i in range(10):
            item = GoldenItem.objects.create(
                prompt=f"question {i}", reference_answer=f"answer {i}", category="billing" if i < 6 else "security",
                author=author, status=GoldenItem.Status.APPROVED,
            )
            vi = GoldenSetVersionItem.objects.create(
                version=self.version, item=item, revision=1, prompt=item.prompt, reference_answer=item.reference_answer,
                category=item.category, tags=[], acceptance={}, item_hash="0" * 64,
            )
            self.items.append((item, vi))
        self.baseline_run: EvalRun | None = None

    def drift(self, i: int, *, prompts: bool | None = False, responses: bool | None = False, js: float | None = None,
              novel: float = 0.0, topics: list[dict] | None = None) -> None:
        start, end = window(i)
        for target, drifted in (("prompts", prompts), ("responses", responses)):
            status = DriftRun.Status.INSUFFICIENT_DATA if drifted is None else DriftRun.Status.COMPLETED
            value = js if js is not None else (0.3 if drifted else 0.05)
            DriftRun.objects.create(
                deployment=self.deployment, baseline=self.baseline, window_start=start, window_end=end, target=target,
                status=status, drifted=drifted, sample_count=500, js=value if drifted is not None else None,
                js_threshold=0.18 if drifted is not None else None, wasserstein=0.1 if drifted is not None else None,
                mmd_p_value=(0.001 if drifted else 0.6) if drifted is not None else None,
                novel_share=novel if target == "prompts" else 0.0,
                topics=(topics or []) if target == "prompts" else [],
                results={"wasserstein": {"threshold": 0.2}},
            )

    def golden(self, *, pass_rate: float, at: dt.datetime, model_version: str = "v1", regressed: int = 0) -> EvalRun:
        """An evaluation run finished at `at`; the first one becomes the baseline. Regressed items are billing first."""
        is_baseline = self.baseline_run is None
        run = EvalRun.objects.create(
            deployment=self.deployment, model_version=model_version, golden_version=self.version,
            status=EvalRun.Status.SUCCEEDED, answer_source=EvalRun.AnswerSource.UPLOADED, similarity_threshold=0.8,
            item_count=10, passed_count=round(pass_rate * 10), failed_count=10 - round(pass_rate * 10),
            pass_rate=pass_rate, is_baseline=is_baseline, baseline_run=self.baseline_run,
            relative_drop_pct=None if is_baseline else round((self.baseline_run.pass_rate - pass_rate) / self.baseline_run.pass_rate * 100, 2),
            regressed_count=regressed, created_at=at, started_at=at, finished_at=at,
        )
        for n, (item, vi) in enumerate(self.items):
            EvalResult.objects.create(
                run=run, version_item=vi, item=item, answer="a",
                outcome=EvalResult.Outcome.FAILED if n < regressed else EvalResult.Outcome.PASSED, regressed=n < regressed,
            )
        if is_baseline:
            self.baseline_run = run
        return run

    def traffic(self, *, start: dt.datetime, n: int, bad: int, user, prefix: str) -> list[ProductionSample]:
        """n served samples from `start`, of which `bad` carry a flag resolved as confirmed bad."""
        samples = ProductionSample.objects.bulk_create([
            ProductionSample(deployment=self.deployment, external_id=f"{prefix}-{k}", prompt=f"{prefix} prompt {k}",
                             response=f"{prefix} answer {k}", model_version="v1",
                             client_timestamp=start + dt.timedelta(minutes=k))
            for k in range(n)
        ])
        Flag.objects.bulk_create([
            Flag(sample=s, deployment=self.deployment, flagged_by=user, reason="incorrect",
                 status=Flag.Status.RESOLVED, final_label="confirmed_bad", resolved_at=start)
            for s in samples[:bad]
        ])
        return samples


def store_vectors(deployment, vectors: np.ndarray, *, start: dt.datetime, prefix: str, texts=None) -> list[int]:
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(
            deployment=deployment, external_id=f"{prefix}-{i}", prompt=(texts[i] if texts else f"{prefix} prompt {i}"),
            response=f"{prefix} answer {i}", model_version="v1", client_timestamp=start + dt.timedelta(minutes=i),
        )
        for i in range(len(vectors))
    ])
    ids = np.array([r.id for r in rows], dtype=np.int64)
    drift_services.samples_store_vectors(ids=ids, prompt_vectors=vectors, response_vectors=vectors)
    return ids.tolist()
