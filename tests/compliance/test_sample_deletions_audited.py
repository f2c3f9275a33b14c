"""Deleting production samples leaves an audit event: ONE per statement (count, id range, deployments), never
one per row, whether the ORM or raw SQL deletes them; retention's month drops leave one event per month, written
by the owner's SECURITY DEFINER function, since the runtime role cannot drop a table (issue 14)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from compliance import chain
from compliance.models import AuditEvent
from drift_app import services
from drift_app.models import ProductionSample
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def _samples(deployment, n: int, *, start: dt.datetime, prefix: str) -> list[ProductionSample]:
    return ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"{prefix}{i}", prompt=f"prompt {i}", response="answer",
                         model_version="v1", client_timestamp=start + dt.timedelta(hours=i))
        for i in range(n)
    ])


def _deletion_events():
    return list(AuditEvent.objects.filter(object_type="drift_app.ProductionSample", action="delete").order_by("id"))


def test_an_orm_delete_of_many_samples_writes_one_event_with_count_id_range_and_deployment():
    deployment = factories.deployment()
    rows = _samples(deployment, 30, start=dt.datetime(2022, 2, 3, tzinfo=UTC), prefix="o")
    ProductionSample.objects.filter(deployment=deployment, external_id__in=[f"o{i}" for i in range(5, 25)]).delete()

    [event] = _deletion_events()
    ids = sorted(r.id for r in rows[5:25])
    assert event.before == {"count": 20, "min_id": ids[0], "max_id": ids[-1], "deployment_ids": [deployment.id]}
    assert (event.object_id, event.deployment_id) == (f"{ids[0]}-{ids[-1]}", deployment.id)
    assert chain.verify().ok


def test_a_raw_sql_delete_across_deployments_is_one_event_naming_both():
    first, second = factories.deployment(), factories.deployment()
    start = dt.datetime(2022, 4, 1, tzinfo=UTC)
    _samples(first, 3, start=start, prefix="a")
    _samples(second, 4, start=start, prefix="b")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM drift_app_productionsample WHERE deployment_id IN (%s, %s)", [first.id, second.id])

    [event] = _deletion_events()
    assert event.before["count"] == 7 and event.before["deployment_ids"] == sorted([first.id, second.id])
    assert event.deployment_id is None and event.actor_username == "system"


def test_a_delete_that_matches_nothing_writes_no_event():
    deployment = factories.deployment()
    _samples(deployment, 2, start=dt.datetime(2022, 5, 1, tzinfo=UTC), prefix="n")
    ProductionSample.objects.filter(deployment=deployment, external_id="absent").delete()
    assert _deletion_events() == []


def test_retention_drops_a_month_as_the_owner_function_and_writes_one_event_per_month():
    deployment = factories.deployment()
    _samples(deployment, 6, start=dt.datetime(2019, 1, 10, tzinfo=UTC), prefix="j")
    _samples(deployment, 4, start=dt.datetime(2019, 2, 10, tzinfo=UTC), prefix="f")

    dropped = services.samples_drop_months(before=dt.datetime(2019, 3, 1, tzinfo=UTC))

    by_month = {d.month.strftime("%Y-%m"): d.dropped for d in dropped}
    assert by_month["2019-01"] == 6 and by_month["2019-02"] == 4
    events = {e.before["month"]: e for e in _deletion_events()}
    assert events["2019-01"].after["dropped"] == 6 and events["2019-02"].after["dropped"] == 4
    assert events["2019-01"].object_id == "drift_app_productionsample_p2019_01"
    assert len(_deletion_events()) == len(dropped)  # no per-row or per-statement events besides
    assert chain.verify().ok


def test_the_runtime_role_cannot_drop_a_month_itself():
    deployment = factories.deployment()
    _samples(deployment, 1, start=dt.datetime(2019, 6, 10, tzinfo=UTC), prefix="d")
    with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE drift_app_productionsample_p2019_06")


def test_the_drop_function_refuses_anything_but_a_month_of_samples():
    with pytest.raises(DatabaseError, match="no month partition"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM drift_app_sample_month_drop('1901-01-01T00:00Z', ARRAY[]::bigint[])")


def test_the_runtime_role_cannot_delete_from_a_month_table_around_the_parents_trigger():
    deployment = factories.deployment()
    _samples(deployment, 2, start=dt.datetime(2018, 3, 10, tzinfo=UTC), prefix="p")  # a month made now, by the function
    _samples(deployment, 1, start=dt.datetime.now(UTC), prefix="c")  # this month: made by the migrations
    for month in ("2018_03", dt.datetime.now(UTC).strftime("%Y_%m")):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM drift_app_productionsample_p{month}")
    assert ProductionSample.objects.filter(deployment=deployment).count() == 3


def test_the_drop_function_refuses_a_keep_list_that_leaves_out_evidence(personas):
    from feedback.services import flag_create

    deployment = factories.deployment()
    flagged, plain = _samples(deployment, 2, start=dt.datetime(2017, 4, 10, tzinfo=UTC), prefix="k")
    flag_create(sample=flagged, user=personas.alice, reason="incorrect", comment="wrong price")
    for keep in ("ARRAY[]::bigint[]", "NULL", f"ARRAY[{plain.id}]::bigint[]"):
        with pytest.raises(DatabaseError, match="evidence samples missing"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM drift_app_sample_month_drop('2017-04-01T00:00Z', {keep})")
    assert ProductionSample.objects.filter(deployment=deployment).count() == 2

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as retention does: no deferred check pending on the month
        cursor.execute(f"SELECT dropped, kept FROM drift_app_sample_month_drop('2017-04-01T00:00Z', ARRAY[{flagged.id}])")
        assert cursor.fetchone() == (1, 1)
    assert list(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True)) == [flagged.id]


def test_only_the_runtime_role_may_call_the_functions_that_run_with_the_owners_rights():
    with connection.cursor() as cursor:
        cursor.execute("""SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE'),
                                 has_function_privilege(current_user, p.oid, 'EXECUTE')
                          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'public' AND p.prosecdef ORDER BY 1""")
        rows = cursor.fetchall()
    assert {name for name, _, _ in rows} >= {"drift_app_sample_month_drop", "drift_app_sample_partitions_ensure"}
    assert [(name, public, runtime) for name, public, runtime in rows if public or not runtime] == []
