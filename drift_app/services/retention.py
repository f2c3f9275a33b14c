"""Retention: purge old samples, keeping every piece of evidence."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from .. import selectors
from ..models import Baseline, Deployment, ProductionSample

SAMPLE_TABLE = ProductionSample._meta.db_table

@transaction.atomic
def samples_purge(*, deployment: Deployment, before: dt.datetime) -> int:
    """Delete a deployment's samples served before `before`, keeping every piece of evidence.

    Kept whatever their age: samples referenced by a flag, a promotion or a golden item (evidence
    for compliance), and the samples of the active baseline (so it can be audited and refitted).
    Returns the number of samples deleted.
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
