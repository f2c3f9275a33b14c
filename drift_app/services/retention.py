"""Retention: drop whole months of samples (partitions), or purge one deployment's old samples;
either way every piece of evidence is kept."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import partitions, selectors
from ..models import Baseline, Deployment, ProductionSample

logger = logging.getLogger(__name__)

SAMPLE_TABLE = ProductionSample._meta.db_table


@transaction.atomic
def samples_purge(*, deployment: Deployment, before: dt.datetime) -> int:
    """Delete a deployment's samples served before `before`, keeping every piece of evidence.

    Kept whatever their age: samples referenced by a flag, a promotion or a golden item (evidence
    for compliance), and the samples of the active baseline (so it can be audited and refitted).
    Returns the number of samples deleted. Months are shared by all deployments, so a per-deployment
    retention shorter than the global one deletes rows; the global one drops months (samples_drop_months).
    """
    keep = selectors.evidence_sample_ids(deployment=deployment)
    active = Baseline.objects.filter(deployment=deployment, is_active=True).values_list("sample_ids", flat=True).first()
    keep |= set(active or [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {SAMPLE_TABLE} WHERE deployment_id = %s AND client_timestamp < %s AND NOT (id = ANY(%s))",
            [deployment.id, before, sorted(keep)],
        )
        return cursor.rowcount


@dataclass(frozen=True)
class MonthDropped:
    month: dt.datetime  # first instant of the month, UTC
    dropped: int  # samples removed with the month's table
    kept: int  # evidence samples carried over into the month's new, empty table


def samples_drop_months(*, before: dt.datetime) -> list[MonthDropped]:
    """Drop every month of samples (all deployments) that ended on or before `before`: the month's
    partition goes with DROP TABLE (no row-by-row DELETE, no dead tuples, no vacuum debt).

    Evidence is kept whatever its age (flag, promotion or golden-item sources, active baselines' samples):
    those rows are copied aside, the month's table is dropped and created afresh, and they go back in.
    Each month is its own transaction.
    """
    return [_drop_month(p) for p in partitions.existing() if p.end <= before]


@transaction.atomic
def _drop_month(partition: partitions.Partition) -> MonthDropped:
    keep = sorted(selectors.evidence_sample_ids_between(start=partition.start, end=partition.end))
    with connection.cursor() as cursor:
        # Dropping a partition takes an ACCESS EXCLUSIVE lock on the samples table: give up rather than
        # queue every ingestion behind a long drift query (the next beat tries again).
        cursor.execute("SET LOCAL lock_timeout = %s", [f"{settings.DRIFTDESK_PARTITION_LOCK_TIMEOUT_MS}ms"])
        # Deferred checks still queued for this month's rows (rows written earlier in the same transaction)
        # would block DROP TABLE: run them now. Django's foreign keys are all INITIALLY DEFERRED, so
        # ALL DEFERRED afterwards puts the transaction back as it was.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # The runtime role owns no table, so it cannot drop one: the owner's SECURITY DEFINER function
        # (compliance 0009) drops the month, puts the evidence back and writes the month's audit event.
        cursor.execute("SELECT dropped, kept FROM drift_app_sample_month_drop(%s, %s::bigint[])", [partition.start, keep])
        dropped, kept = cursor.fetchone()
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    logger.info("retention dropped month %s: %d samples, %d evidence samples kept",
                partition.start.strftime("%Y-%m"), dropped, kept)
    return MonthDropped(partition.start, dropped, kept)


def sample_partitions_maintain(*, now: dt.datetime | None = None) -> dict:
    """The beat's daily upkeep: months ahead (DRIFTDESK_PARTITIONS_AHEAD) exist before samples arrive,
    and months older than DRIFTDESK_SAMPLE_RETENTION_MONTHS (0: keep forever) are dropped."""
    now = now or timezone.now()
    created = partitions.ensure_ahead(months=settings.DRIFTDESK_PARTITIONS_AHEAD, now=now)
    dropped: list[MonthDropped] = []
    keep_months = settings.DRIFTDESK_SAMPLE_RETENTION_MONTHS
    if keep_months > 0:
        cutoff = partitions.month_start(now)
        for _ in range(keep_months):
            cutoff = partitions.previous_month(cutoff)
        dropped = samples_drop_months(before=cutoff)
    return {"created": created, "dropped_months": [d.month.strftime("%Y-%m") for d in dropped],
            "dropped_samples": sum(d.dropped for d in dropped), "kept_samples": sum(d.kept for d in dropped)}
