"""The audit trail's hash chain: each event carries SHA-256(previous event's hash + its canonical content).

Events are chained in id order. Appending takes a transaction-scoped advisory lock, so two writers never
chain onto the same predecessor and ids follow chain order (the id is drawn after the lock is held).
`verify()` recomputes every link and names the first broken one; `manage.py audit_verify` and
GET /api/v1/compliance/audit/verify report it, and compliance reports carry the chain head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import connection

GENESIS = "0" * 64
# An arbitrary constant naming the lock; any other pg_advisory lock in the app must not use it.
_LOCK_KEY = 0x6472696674  # "drift"
CONTENT_FIELDS = ("at", "actor_id", "actor_username", "source", "request_path", "action", "object_type", "object_id",
                  "object_repr", "deployment_id", "changed_fields", "before", "after")


def _at(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def canonical(fields: dict) -> str:
    """The event's content as canonical JSON (sorted keys, no spaces; time in UTC with microseconds)."""
    content = {name: fields[name] for name in CONTENT_FIELDS}
    content["at"] = _at(content["at"])
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def lock_and_head() -> str:
    """Take the chain lock (until the transaction ends) and return the hash of the last event."""
    from .models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return last or GENESIS


def head() -> tuple[int | None, str]:
    """(id, hash) of the chain's last event; (None, GENESIS) when there is none."""
    from .models import AuditEvent

    last = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    return last if last else (None, GENESIS)


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    head: str
    first_broken_id: int | None = None
    problem: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "events": self.events, "head": self.head, "first_broken_id": self.first_broken_id,
                "problem": self.problem}


def verify(*, batch: int = 2000) -> Verification:
    """Recompute every link in id order; stop at the first event whose hash or predecessor does not match."""
    from .models import AuditEvent

    prev, count, last_id = GENESIS, 0, 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")
                    .values("id", "prev_hash", "hash", *CONTENT_FIELDS)[:batch])
        if not rows:
            return Verification(True, count, prev)
        for row in rows:
            if row["prev_hash"] != prev:
                return Verification(False, count, prev, row["id"],
                                    f"event {row['id']} does not follow the event before it (one was removed or reordered)")
            if link(prev, row) != row["hash"]:
                return Verification(False, count, prev, row["id"],
                                    f"event {row['id']} was altered after it was written (its hash does not match)")
            prev, count, last_id = row["hash"], count + 1, row["id"]
