"""goldenset 0009 (golden set per team): items and versions that existed before teams join the default team.

Migrated back to 0008 and forward again with Django's MigrationExecutor inside the test's transaction
(PostgreSQL's DDL is transactional, so everything, schema included, rolls back with the test). DDL is the
owner role's work, as `make migrate` runs it; the test switches to the owner for the migrations only.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.base import as_owner

pytestmark = pytest.mark.django_db
BEFORE = [("goldenset", "0008_eval_run_requeue_count")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    with connection.cursor() as cursor:
        # Rows written earlier in this transaction hold deferred foreign-key checks, and ALTER TABLE waits
        # for none: check them now (a migration run by `manage.py migrate` commits before the next one).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_items_and_versions_made_before_teams_join_the_default_team(personas):
    with as_owner():
        leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
        old = _migrate(BEFORE)
        Team = old.get_model("drift_app", "Team")
        GoldenItem = old.get_model("goldenset", "GoldenItem")
        GoldenSetVersion = old.get_model("goldenset", "GoldenSetVersion")
        other = Team.objects.create(slug="payments", name="Payments")
        author_id = personas.bob.pk
        items = [GoldenItem.objects.create(prompt=f"How do I rotate key {i}?", reference_answer="In Settings.",
                                           category="billing", author_id=author_id) for i in range(3)]
        version = GoldenSetVersion.objects.create(number=1, content_hash="a" * 64, item_count=3, reason="first",
                                                  created_by_id=author_id)

        new = _migrate(leaves)
    GoldenItem = new.get_model("goldenset", "GoldenItem")
    GoldenSetVersion = new.get_model("goldenset", "GoldenSetVersion")
    default = new.get_model("drift_app", "Team").objects.get(slug="default")
    assert default.pk != other.pk
    assert set(GoldenItem.objects.filter(pk__in=[i.pk for i in items]).values_list("team_id", flat=True)) == {default.pk}
    assert GoldenSetVersion.objects.get(pk=version.pk).team_id == default.pk
