"""Golden-set versions: immutable snapshots of the approved items with a content hash."""

from __future__ import annotations

import logging

from django.db import connection, transaction

from drift_app.models import Team

from ..models import (
    GoldenItem,
    GoldenItemEvent,
    GoldenSetVersion,
    GoldenSetVersionItem,
)
from .common import item_content_hash, version_content_hash

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



# --- versions --------------------------------------------------------------------------------------

@transaction.atomic
def golden_version_create(*, user, reason: str, team: Team) -> GoldenSetVersion:
    """Snapshot the approved items of `team`'s golden set into a new immutable version."""
    with connection.cursor() as cursor:
        # Each team's versions are numbered 1, 2, 3...: serialise their creation across processes.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('goldenset.version'), %s)", [team.pk])
    items = list(GoldenItem.objects.filter(team=team, status=Status.APPROVED).defer("prompt_embedding").order_by("id"))
    hashes = {i.id: item_content_hash(i) for i in items}
    last = GoldenSetVersion.objects.filter(team=team).order_by("-number").values_list("number", flat=True).first() or 0
    version = GoldenSetVersion(
        team=team, number=last + 1, content_hash=version_content_hash(hashes), item_count=len(items), reason=reason,
        created_by=user,
    )
    version.save()
    GoldenSetVersionItem.objects.bulk_create([
        GoldenSetVersionItem(
            version=version, item=i, revision=i.revision, prompt=i.prompt, reference_answer=i.reference_answer,
            category=i.category, tags=i.tags, acceptance=i.acceptance, item_hash=hashes[i.id],
        )
        for i in items
    ])
    return version
