"""Samples: ingestion (one multi-row insert), embedding (pipelined encode + binary COPY) and backfill."""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import embeddings, partitions, pgbinary, signals
from ..models import Deployment, ProductionSample
from ..validation import SampleIn

logger = logging.getLogger(__name__)

SAMPLE_TABLE = ProductionSample._meta.db_table


@dataclass(frozen=True)
class IngestedSample:
    external_id: str
    id: int
    created: bool


@dataclass(frozen=True)
class IngestResult:
    samples: list[IngestedSample]

    @property
    def created_ids(self) -> list[int]:
        return [s.id for s in self.samples if s.created]


_INSERT_SQL = f"""
WITH input AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[],
                         %s::text[])
        AS t(external_id, prompt, response, model_version, client_timestamp, metadata, scores, prompt_system)
), inserted AS (
    INSERT INTO {SAMPLE_TABLE}
        (deployment_id, external_id, prompt, prompt_system, response, model_version, client_timestamp,
         received_at, metadata, scores, embedding_model, embed_queued_at)
    SELECT %s, external_id, prompt, prompt_system, response, model_version, client_timestamp, now(), metadata::jsonb,
           scores::jsonb, '', now()
    FROM input i
    -- The unique key includes the month (partitioning), so an external id sent again with another
    -- timestamp is caught here, in every month, under the external id's ingestion lock.
    WHERE NOT EXISTS (SELECT 1 FROM {SAMPLE_TABLE} s WHERE s.deployment_id = %s AND s.external_id = i.external_id)
    ORDER BY external_id
    ON CONFLICT (deployment_id, external_id, client_timestamp) DO NOTHING
    RETURNING id, external_id
)
SELECT id, external_id, true FROM inserted
UNION ALL
SELECT s.id, s.external_id, false
FROM {SAMPLE_TABLE} s JOIN input i ON s.external_id = i.external_id
WHERE s.deployment_id = %s
"""


# Ingestion locks: external ids hash into 64 buckets per deployment; a batch takes its buckets' transaction
# advisory locks in order before inserting. Two requests carrying the same external id (with the same or
# different timestamps) then run one after the other, and the second one's NOT EXISTS sees the first's row.
# 64 buckets bound the locks one batch holds while leaving unrelated batches free to run side by side.
_INGEST_BUCKETS = 64
_INGEST_LOCK_BASE = 0x44726966_74490000  # "DriftI" + deployment * 64 + bucket


def _ingest_lock_keys(deployment_id: int, external_ids: list[str]) -> list[int]:
    buckets = {zlib.crc32(e.encode()) % _INGEST_BUCKETS for e in external_ids}
    return sorted(_INGEST_LOCK_BASE + (deployment_id * _INGEST_BUCKETS + b) % 0xFFFF_FFFF for b in buckets)


@transaction.atomic
def samples_ingest(*, deployment: Deployment, records: list[SampleIn]) -> IngestResult:
    """Store samples in one multi-row insert; idempotent on (deployment, external_id).

    A retried request inserts nothing and answers with the stored ids.
    """
    # Rows go in sorted by external_id: two overlapping batches then take their row locks (unique
    # index entries) in the same order, so they wait for each other instead of deadlocking.
    ordered = sorted(records, key=lambda r: r.external_id)
    params = [
        [r.external_id for r in ordered],
        [r.prompt for r in ordered],
        [r.response for r in ordered],
        [r.model_version for r in ordered],
        [r.client_timestamp for r in ordered],
        [json.dumps(r.metadata) for r in ordered],
        [json.dumps(r.scores) for r in ordered],
        [r.prompt_system for r in ordered],
        deployment.id,
        deployment.id,
        deployment.id,
    ]
    # Each sample's month must exist before it is stored (monthly partitions; usually made ahead by beat).
    partitions.ensure(r.client_timestamp for r in ordered)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, n)",
            [_ingest_lock_keys(deployment.id, params[0])],
        )
        cursor.execute(_INSERT_SQL, params)
        rows = cursor.fetchall()
        found = {ext: (pk, created) for pk, ext, created in rows}
        missing = [r.external_id for r in records if r.external_id not in found]
        if missing:
            # A concurrent request inserted these after our statement's snapshot: read them now.
            cursor.execute(
                f"SELECT id, external_id FROM {SAMPLE_TABLE} WHERE deployment_id = %s AND external_id = ANY(%s)",
                [deployment.id, missing],
            )
            for pk, ext in cursor.fetchall():
                found[ext] = (pk, False)
    result = IngestResult([IngestedSample(r.external_id, *found[r.external_id]) for r in records])
    new_ids = result.created_ids
    if new_ids:
        from ..ops import SAMPLES_INGESTED
        from ..tasks import embed_samples_task

        transaction.on_commit(lambda: SAMPLES_INGESTED.inc(len(new_ids)))
        # Listeners (tool scores held until their trace arrives) must not fail an ingestion that is stored.
        transaction.on_commit(lambda: signals.samples_created.send_robust(
            sender=ProductionSample, deployment_id=deployment.id, sample_ids=new_ids))

        # robust: if the broker is down the samples are stored all the same; the backfill embeds them.
        transaction.on_commit(lambda: embed_samples_task.delay(new_ids), robust=True)
    return result




def samples_embed(*, sample_ids: list[int], chunk_size: int | None = None) -> int:
    """Embed prompts and responses of the given samples that have no vector from the current model.

    Returns the number of samples embedded. Safe to run twice: already-embedded samples are skipped.
    Encoding and storing are pipelined: while chunk k+1 is encoded, chunk k's vectors are written
    (binary COPY + UPDATE, whose HNSW index maintenance costs about a tenth of the encoding on CPU)
    from a second thread with its own connection. On a GPU worker the two overlap completely.
    """
    from concurrent.futures import ThreadPoolExecutor

    rows = list(
        ProductionSample.objects.filter(id__in=sample_ids)
        .exclude(embedding_model=embeddings.MODEL_NAME, prompt_embedding__isnull=False)
        .order_by("id")
        .values_list("id", "prompt", "response", "deployment__prompt_template_strip")
    )
    if not rows:
        return 0
    # Renew the claim: the lease counts from the start of the work, so a backfill leaves these alone
    # while this task runs, and takes them again if this worker dies.
    ProductionSample.objects.filter(id__in=[r[0] for r in rows]).update(embed_queued_at=timezone.now())
    # The part users write: each deployment's template patterns are stripped from prompts first.
    rows = [(i, embeddings.strip_template(p, strip) if strip else p, r) for i, p, r, strip in rows]
    chunk_size = chunk_size or settings.DRIFTDESK_EMBED_CHUNK
    t0 = time.perf_counter()

    def store(ids, prompt_vectors, response_vectors):
        try:
            samples_store_vectors(ids=ids, prompt_vectors=prompt_vectors, response_vectors=response_vectors)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-vectors") as writer:
        pending = []
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            ids = np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk))
            # One encode call for prompts and responses: sentence-transformers sorts by length across
            # both, which keeps padding (and so wasted compute) low.
            vectors = embeddings.encode([r[1] for r in chunk] + [r[2] for r in chunk])
            pending.append(writer.submit(store, ids, vectors[: len(chunk)], vectors[len(chunk) :]))
        for future in pending:
            future.result()  # re-raise a failed write: the task retries, nothing is half-done silently
    logger.info("embedded %d samples in %.2f s", len(rows), time.perf_counter() - t0)
    return len(rows)


@transaction.atomic
def samples_store_vectors(*, ids: np.ndarray, prompt_vectors: np.ndarray, response_vectors: np.ndarray) -> None:
    payload = pgbinary.encode_id_vectors(ids, prompt_vectors, response_vectors)
    dim = embeddings.DIMENSIONS
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS _vectors_in (id bigint, p vector({dim}), r vector({dim})) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY _vectors_in (id, p, r) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        cursor.execute(
            f"""UPDATE {SAMPLE_TABLE} s
                SET prompt_embedding = v.p, response_embedding = v.r, embedding_model = %s, embedded_at = now()
                FROM _vectors_in v WHERE s.id = v.id
                  -- Written once: a redelivered task (its worker killed mid-batch) or a second worker
                  -- holding the same ids leaves a vector of the current model alone.
                  AND (s.prompt_embedding IS NULL OR s.embedding_model <> %s)""",
            [embeddings.MODEL_NAME, embeddings.MODEL_NAME],
        )


# The claim: stamp up to `cap` samples that need vectors and whose last claim is older than the lease,
# in one statement over the partial index sample_embed_claim. SKIP LOCKED lets two backfills (should
# single-flight ever fail) take disjoint rows instead of waiting on each other. No ORDER BY: it would
# tempt the planner to walk the primary key (the whole table) instead of the small partial index.
_CLAIM_SQL = f"""
UPDATE {SAMPLE_TABLE} SET embed_queued_at = now()
WHERE id IN (
    SELECT id FROM {SAMPLE_TABLE}
    WHERE prompt_embedding IS NULL
      AND received_at < %s
      AND (embed_queued_at IS NULL OR embed_queued_at < %s)
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""

# Key of the PostgreSQL advisory lock that keeps the backfill single-flight (any stable 64-bit number).
BACKFILL_LOCK_KEY = 0x44726966_74424631  # "DriftBF1"

# Samples whose vectors come from another model: a second claim, over an index on embedding_model
# (`<` and `>` instead of `<>`, so both halves are index range scans that find nothing when no model changed).
_CLAIM_STALE_SQL = f"""
UPDATE {SAMPLE_TABLE} SET embed_queued_at = now()
WHERE id IN (
    SELECT id FROM {SAMPLE_TABLE}
    WHERE prompt_embedding IS NOT NULL
      AND (embedding_model < %s OR embedding_model > %s)
      AND (embed_queued_at IS NULL OR embed_queued_at < %s)
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def embeddings_backfill(*, chunk_size: int = 1000, cap: int | None = None) -> int:
    """Queue embedding for samples still without a vector whose embedding is not queued already.

    Runs periodically (django-celery-beat) so a worker crash or a broker outage loses nothing:
    - single-flight: a PostgreSQL advisory lock, so overlapping beats never run two backfills at once;
    - a claim, not a scan: `UPDATE ... RETURNING` over a partial index stamps `embed_queued_at` on
      at most DRIFTDESK_BACKFILL_CAP samples whose last claim (by ingestion, an earlier backfill or
      a starting worker) is older than DRIFTDESK_EMBED_LEASE_SECONDS. Work already queued is never
      queued again; a task lost with its worker is queued again once its lease runs out.
    Returns the number of samples queued.
    """
    from ..tasks import embed_samples_task

    cap = cap or settings.DRIFTDESK_BACKFILL_CAP
    now = timezone.now()
    grace = now - timedelta(seconds=settings.DRIFTDESK_BACKFILL_GRACE_SECONDS)
    lease = now - timedelta(seconds=settings.DRIFTDESK_EMBED_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [BACKFILL_LOCK_KEY])
        if not cursor.fetchone()[0]:
            logger.info("embedding backfill already running elsewhere: skipped")
            return 0
        cursor.execute(_CLAIM_SQL, [grace, lease, cap])
        ids = [row[0] for row in cursor.fetchall()]
        if len(ids) < cap:
            cursor.execute(_CLAIM_STALE_SQL, [embeddings.MODEL_NAME, embeddings.MODEL_NAME, lease, cap - len(ids)])
            ids += [row[0] for row in cursor.fetchall()]
        ids.sort()
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            transaction.on_commit(lambda chunk=chunk: embed_samples_task.delay(chunk))
    if ids:
        logger.info("embedding backfill queued %d samples", len(ids))
    return len(ids)


def sample_scores_merge(*, sample: ProductionSample, scores: dict[str, float]) -> dict[str, float]:
    """Add or replace named quality scores on a stored sample (a trace tool's score arriving later).

    One atomic `jsonb ||` update, so two scores arriving together both stick. Names and values are
    validated by the caller like ingested scores (drift_app.validation); the cap on how many scores a
    sample holds is checked here. Returns the sample's scores afterwards.
    """
    from django.core.exceptions import ValidationError

    from ..validation import MAX_SCORES

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT scores FROM {SAMPLE_TABLE} WHERE id = %s FOR UPDATE", [sample.id])
        current = cursor.fetchone()[0] or {}
        if isinstance(current, str):
            current = json.loads(current)
        if len(set(current) | set(scores)) > MAX_SCORES:
            raise ValidationError({"scores": f"a sample holds at most {MAX_SCORES} scores"})
        cursor.execute(f"UPDATE {SAMPLE_TABLE} SET scores = scores || %s::jsonb WHERE id = %s RETURNING scores",
                       [json.dumps(scores), sample.id])
        merged = cursor.fetchone()[0]
    return json.loads(merged) if isinstance(merged, str) else merged
