"""Writes of the core layer, one module per concern.

- samples.py      ingestion, embedding, embedding backfill
- deployments.py  deployment creation (with its drift schedule)
- drift.py        baselines, calibration, drift runs and their schedule
- retention.py    dropping old months of samples, purging a deployment's old samples; evidence kept
- teams.py        team memberships
- keys.py         personal API tokens and ingestion keys (hashed, scoped, expiring, revocable)
- leases.py       run leases renewed by a heartbeat thread while a worker computes
- reaper.py       queueing again (bounded) runs stuck past their lease

Callers use `from drift_app import services` and `services.<name>`; the names are re-exported here.
"""

from .deployments import DEPLOYMENT_SETTINGS, deployment_create, deployment_update
from .drift import (
    MAX_WINDOW_VECTORS,
    TARGET_COLUMNS,
    baseline_calibration,
    baseline_create,
    baseline_fit,
    RetryRefused,
    drift_run_claim,
    drift_run_compute,
    drift_run_retry,
    drift_runs_create,
    drift_schedule_sync,
    drift_window_scheduled,
    last_complete_window,
)
from .reaper import ReapResult, runs_reap
from .retention import MonthDropped, sample_partitions_maintain, samples_drop_months, samples_purge
from .samples import (
    SAMPLE_TABLE,
    IngestedSample,
    IngestResult,
    embeddings_backfill,
    sample_scores_merge,
    samples_embed,
    samples_ingest,
    samples_store_vectors,
)
from .keys import api_key_revoke, ingestion_key_create, personal_token_create
from .teams import team_member_add, team_member_remove, team_membership_add

__all__ = [
    "MAX_WINDOW_VECTORS", "SAMPLE_TABLE", "TARGET_COLUMNS", "IngestResult", "IngestedSample",
    "baseline_calibration", "baseline_create", "baseline_fit", "deployment_create", "drift_run_compute",
    "drift_runs_create", "drift_schedule_sync", "drift_window_scheduled", "embeddings_backfill",
    "last_complete_window", "sample_scores_merge", "samples_embed", "samples_ingest", "samples_purge", "samples_drop_months",
    "sample_partitions_maintain", "MonthDropped", "samples_store_vectors",
    "team_membership_add", "team_member_add", "team_member_remove", "deployment_update", "DEPLOYMENT_SETTINGS",
    "api_key_revoke", "ingestion_key_create", "personal_token_create", "ReapResult", "runs_reap",
    "RetryRefused", "drift_run_claim", "drift_run_retry",
]
