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
    """A deployment with a fitted baseline (weeks -3..0), a golden-set version and helpers per window.

    The golden set has 200 items by default: enough (at pass rates of 0.8 to 0.95) to detect the 5%
    review threshold with 80% power, so that a clean comparison can be "stable" rather than
    "insufficient evidence". Items are billing and security, 3 to 2, interleaved.
    """

    def __init__(self, author, *, items: int = 200, **deployment_fields):
        self.deployment = factories.deployment(drift_window="weekly", **deployment_fields)
        self.author = author
        self.baseline = Baseline.objects.create(
            deployment=self.deployment, period_start=T0 - dt.timedelta(weeks=3), period_end=T0,
            status=Baseline.Status.FITTED, is_active=True,
        )
        self.version = self.new_version(items)
        self.baseline_run: EvalRun | None = None

    def new_version(self, items: int, *, keep: int = 0, revise: int = 0) -> GoldenSetVersion:
        """A golden-set version of `items` items: the first `keep` of the current version (the first
        `revise` of those at a new revision), then new ones. Becomes the version later runs use."""
        version = GoldenSetVersion.objects.create(
            number=next(_seq) + 1000, content_hash="0" * 64, item_count=items, reason="test", created_by=self.author,
            team=self.deployment.team,
        )
        rows = []
        old = getattr(self, "items", [])
        for i in range(items):
            if i < keep:
                item, old_vi = old[i]
                revision = old_vi.revision + (1 if i < revise else 0)
            else:
                k = next(_seq)
                item = GoldenItem.objects.create(
                    prompt=f"question {k}", reference_answer=f"answer {k}",
                    category="security" if i % 5 in (3, 4) else "billing",
                    author=self.author, status=GoldenItem.Status.APPROVED, team=self.deployment.team,
                )
                revision = 1
            vi = GoldenSetVersionItem.objects.create(
                version=version, item=item, revision=revision, prompt=item.prompt, reference_answer=item.reference_answer,
                category=item.category, tags=[], acceptance={}, item_hash="0" * 64,
            )
            rows.append((item, vi))
        self.items, self.version = rows, version
        return version

    def served(self, i: int, model_version: str, *, n: int = 3) -> None:
        """`n` production samples served by `model_version` in window i (what the verdict matches runs to)."""
        start, _ = window(i)
        ProductionSample.objects.bulk_create([
            ProductionSample(deployment=self.deployment, external_id=f"served-{i}-{model_version}-{next(_seq)}",
                             prompt="p", response="r", model_version=model_version,
                             client_timestamp=start + dt.timedelta(hours=1 + k))
            for k in range(n)
        ])

    def drift(self, i: int, *, prompts: bool | None = False, responses: bool | None = False, js: float | None = None,
              novel: float = 0.0, topics: list[dict] | None = None) -> None:
        start, end = window(i)
        for target, drifted in (("prompts", prompts), ("responses", responses)):
            status = DriftRun.Status.INSUFFICIENT_DATA if drifted is None else DriftRun.Status.COMPLETED
            value = js if js is not None else (0.3 if drifted else 0.05)
            # One live run per window and target (a database constraint): a later run of the same window
            # is a retry after the earlier one failed, so the earlier one is marked failed first.
            DriftRun.objects.filter(
                deployment=self.deployment, target=target, window_start=start, window_end=end,
            ).exclude(status=DriftRun.Status.FAILED).update(status=DriftRun.Status.FAILED)
            DriftRun.objects.create(
                deployment=self.deployment, baseline=self.baseline, window_start=start, window_end=end, target=target,
                status=status, drifted=drifted, sample_count=500, js=value if drifted is not None else None,
                js_threshold=0.18 if drifted is not None else None, wasserstein=0.1 if drifted is not None else None,
                mmd_p_value=(0.001 if drifted else 0.6) if drifted is not None else None,
                novel_share=novel if target == "prompts" else 0.0,
                topics=(topics or []) if target == "prompts" else [],
                results={} if drifted is None else {
                    "js": {"statistic": value, "threshold": 0.18, "drifted": value > 0.18},
                    "wasserstein": {"statistic": 0.1, "threshold": 0.2, "drifted": False},
                    "mmd": {"statistic": 0.004 if drifted else 0.0005, "threshold": 0.002, "drifted": bool(drifted)},
                    "novel_excess": {"statistic": 40 * novel if target == "prompts" else 0.0, "threshold": 2.9,
                                     "drifted": target == "prompts" and 40 * novel > 2.9},
                },
            )

    def golden(self, *, pass_rate: float, at: dt.datetime, model_version: str = "v1", regressed: int = 0,
               errored: int = 0, produced_at: dt.datetime | None = None) -> EvalRun:
        """An evaluation run finished at `at`; the first one becomes the baseline.

        The first round((1 − pass_rate) · n) items fail (so a lower pass rate regresses the items just
        after the baseline's failures) and the last `errored` items error. `regressed` is ignored (the
        verdict pairs items itself); it stays for the callers' readability.
        """
        n = len(self.items)
        failing = round((1 - pass_rate) * n)
        is_baseline = self.baseline_run is None
        passed = n - failing - sum(1 for k in range(n - errored, n) if k >= failing)
        run = EvalRun.objects.create(
            deployment=self.deployment, model_version=model_version, golden_version=self.version,
            status=EvalRun.Status.SUCCEEDED, answer_source=EvalRun.AnswerSource.UPLOADED, similarity_threshold=0.8,
            item_count=n, passed_count=passed, failed_count=n - passed - errored, errored_count=errored,
            pass_rate=pass_rate, is_baseline=is_baseline, baseline_run=self.baseline_run,
            created_at=at, started_at=at, finished_at=at, answers_produced_at=produced_at,
        )
        EvalResult.objects.bulk_create([
            EvalResult(run=run, version_item=vi, item=item, answer="a",
                       outcome=(EvalResult.Outcome.ERRORED if k >= n - errored else
                                EvalResult.Outcome.FAILED if k < failing else EvalResult.Outcome.PASSED))
            for k, (item, vi) in enumerate(self.items)
        ])
        if is_baseline:
            self.baseline_run = run
        return run

    def traffic(self, *, start: dt.datetime, n: int, bad: int, user, prefix: str, pending: int = 0,
                model_version: str = "v1") -> list[ProductionSample]:
        """n served samples from `start`, of which `bad` carry a flag resolved as confirmed bad."""
        samples = ProductionSample.objects.bulk_create([
            ProductionSample(deployment=self.deployment, external_id=f"{prefix}-{k}", prompt=f"{prefix} prompt {k}",
                             response=f"{prefix} answer {k}", model_version=model_version,
                             client_timestamp=start + dt.timedelta(minutes=k))
            for k in range(n)
        ])
        Flag.objects.bulk_create([
            Flag(sample=s, deployment=self.deployment, flagged_by=user, reason="incorrect", status=Flag.Status.OPEN)
            for s in samples[bad:bad + pending]
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
