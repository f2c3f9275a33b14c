"""The audit trail's hash chain: each event carries SHA-256(previous event's hash + its canonical content).

Events are chained in id order by the database: the BEFORE INSERT trigger compliance_auditevent_chain
(migration compliance.0006) takes a transaction-scoped advisory lock, draws the id after it (so ids follow
chain order) and sets prev_hash and hash, for events written by the app and by the capture triggers alike.
Chain version 2 (every event since 0006): the content is each field's text as PostgreSQL prints it,
length-prefixed ("<len>:<text>", NULL "-") and joined by ";". Version 1 (older events): canonical JSON.

`verify()` recomputes every link here, in Python, from the stored columns (not with the database's own
function, which the table owner could replace) and names the first broken one; `manage.py audit_verify`
and GET /api/v1/compliance/audit/verify report it, and compliance reports carry the chain head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import connection

GENESIS = "0" * 64
# An arbitrary constant naming the lock; any other pg_advisory lock in the app must not use it.
_LOCK_KEY = 0x6472696674  # "drift" (431416239732, used by the chain trigger of migration compliance.0006)
# Shared with the trigger's canonical form (driftdesk_audit_canonical), in this order.
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
    """Chain version 1."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def canonical_v2(texts: list[str | None]) -> str:
    return ";".join("-" if t is None else f"{len(t)}:{t}" for t in texts)


def link_v2(prev_hash: str, texts: list[str | None]) -> str:
    return hashlib.sha256((prev_hash + canonical_v2(texts)).encode()).hexdigest()


# The content fields as text, in CONTENT_FIELDS order, exactly as the chain trigger reads them.
_V2_TEXTS = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), actor_id::text, actor_username, source,
    request_path, action, object_type, object_id, object_repr, deployment_id::text, changed_fields::text,
    before::text, after::text"""


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


def _rows(after_id: int, batch: int) -> list[dict]:
    names = ("id", "prev_hash", "hash", "chain_version", *CONTENT_FIELDS)
    sql = (f"SELECT id, prev_hash, hash, chain_version, {', '.join(CONTENT_FIELDS)}, {_V2_TEXTS} "
           "FROM compliance_auditevent WHERE id > %s ORDER BY id LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [after_id, batch])
        out = []
        for values in cursor.fetchall():
            row = dict(zip(names, values[:len(names)]))
            row["texts"] = list(values[len(names):])
            for name in ("changed_fields", "before", "after"):
                if isinstance(row[name], str):
                    row[name] = json.loads(row[name])
            out.append(row)
    return out


def _expected(prev: str, row: dict) -> str:
    return link_v2(prev, row["texts"]) if row["chain_version"] == 2 else link(prev, row)


def verify(*, batch: int = 2000) -> Verification:
    """Recompute every link in id order; stop at the first event whose hash or predecessor does not match."""
    prev, count, last_id = GENESIS, 0, 0
    while True:
        rows = _rows(last_id, batch)
        if not rows:
            return Verification(True, count, prev)
        for row in rows:
            if row["prev_hash"] != prev:
                return Verification(False, count, prev, row["id"],
                                    f"event {row['id']} does not follow the event before it (one was removed or reordered)")
            if _expected(prev, row) != row["hash"]:
                return Verification(False, count, prev, row["id"],
                                    f"event {row['id']} was altered after it was written (its hash does not match)")
            prev, count, last_id = row["hash"], count + 1, row["id"]
