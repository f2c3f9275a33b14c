"""Monthly partitions of production samples (see migration drift_app 0011).

`drift_app_productionsample` is RANGE-partitioned on client_timestamp, one table per UTC month named
`drift_app_productionsample_pYYYY_MM`. A row can only be stored once its month's table exists: the
database function `drift_app_sample_partitions_ensure` creates missing months (serialised, idempotent),
and everything that writes samples calls it first (ingestion, the model's save/bulk_create, bench).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

TABLE = "drift_app_productionsample"
_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime  # inclusive, UTC
    end: dt.datetime  # exclusive, UTC


def month_start(when: dt.datetime) -> dt.datetime:
    when = when.astimezone(dt.UTC)
    return dt.datetime(when.year, when.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def previous_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year - (start.month == 1), month=(start.month - 2) % 12 + 1)


def ensure(stamps: Iterable[dt.datetime]) -> int:
    """Create the partitions that rows with these client timestamps need; returns how many were created.

    One catalog lookup per distinct month when they exist (the common case), so cheap on every write.
    """
    months = sorted({month_start(s) for s in stamps if s is not None})
    if not months:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT drift_app_sample_partitions_ensure(%s::timestamptz[])", [months])
        return cursor.fetchone()[0]


def ensure_ahead(*, months: int, now: dt.datetime) -> int:
    """This month and the next `months`: created ahead (beat), so ingestion never has to take the lock."""
    stamps, start = [], month_start(now)
    for _ in range(months + 1):
        stamps.append(start)
        start = next_month(start)
    return ensure(stamps)


def existing() -> list[Partition]:
    """The sample partitions, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    out = []
    for name in names:
        match = _NAME.match(name)
        if match:
            start = dt.datetime(int(match[1]), int(match[2]), 1, tzinfo=dt.UTC)
            out.append(Partition(name, start, next_month(start)))
    return sorted(out, key=lambda p: p.start)
