"""Samples: ingestion (one multi-row insert), embedding (pipelined encode + binary COPY) and backfill."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import embeddings, pgbinary
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
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[])
        AS t(external_id, prompt, response, model_version, client_timestamp, metadata, scores)
), inserted AS (
    INSERT INTO {SAMPLE_TABLE}
        (deployment_id, external_id, prompt, response, model_version, client_timestamp,
         received_at, metadata, scores, embedding_model)
    SELECT %s, external_id, prompt, response, model_version, client_timestamp, now(), metadata::jsonb, scores::jsonb, ''
    FROM input
    ON CONFLICT (deployment_id, external_id) DO NOTHING
    RETURNING id, external_id
)
SELECT id, external_id, true FROM inserted
UNION ALL
SELECT s.id, s.external_id, false
FROM {SAMPLE_TABLE} s JOIN input i ON s.external_id = i.external_id
WHERE s.deployment_id = %s
"""


@transaction.atomic
def samples_ingest(*, deployment: Deployment, records: list[SampleIn]) -> IngestResult:
    """Store samples in one multi-row insert; idempotent on (deployment, external_id).

    A retried request inserts nothing and answers with the stored ids.
    """
    params = [
        [r.external_id for r in records],
        [r.prompt for r in records],
        [r.response for r in records],
        [r.model_version for r in records],
        [r.client_timestamp for r in records],
        [json.dumps(r.metadata) for r in records],
        [json.dumps(r.scores) for r in records],
        deployment.id,
        deployment.id,
    ]
    with connection.cursor() as cursor:
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
        from ..tasks import embed_samples_task

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
        .values_list("id", "prompt", "response")
    )
    if not rows:
        return 0
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
                FROM _vectors_in v WHERE s.id = v.id""",
            [embeddings.MODEL_NAME],
        )


def embeddings_backfill(*, chunk_size: int = 1000) -> int:
    """Queue embedding for every sample still without a vector from the current model.

    Runs periodically (django-celery-beat) so a worker crash or a broker outage loses nothing.
    Only samples older than DRIFTDESK_BACKFILL_GRACE_SECONDS are taken, so fresh samples whose task
    is still queued are not embedded twice.
    """
    from ..tasks import embed_samples_task

    cutoff = timezone.now() - timedelta(seconds=settings.DRIFTDESK_BACKFILL_GRACE_SECONDS)
    pending = (
        ProductionSample.objects.filter(received_at__lt=cutoff)
        .filter(prompt_embedding__isnull=True)
        .values_list("id", flat=True)
        .order_by("id")
    )
    stale = (
        ProductionSample.objects.filter(prompt_embedding__isnull=False)
        .exclude(embedding_model=embeddings.MODEL_NAME)
        .values_list("id", flat=True)
    )
    ids = sorted(set(pending) | set(stale))
    for start in range(0, len(ids), chunk_size):
        embed_samples_task.delay(ids[start : start + chunk_size])
    return len(ids)
