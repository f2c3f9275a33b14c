"""Production samples live in monthly partitions: made on demand and ahead, indexed per month, dropped whole."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from drift_app import partitions, services
from drift_app.models import ProductionSample
from drift_app.validation import SampleIn
from feedback.models import Flag
from feedback.services import flag_create
from goldenset.services import golden_item_create
from tests import factories

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _record(external_id: str, when: dt.datetime) -> SampleIn:
    return SampleIn(external_id, f"prompt {external_id}", "answer", "v1", when, {}, {})


def _partition_of(sample_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM drift_app_productionsample WHERE id = %s", [sample_id])
        return cursor.fetchone()[0]


def _table_oid(name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [name])
        return cursor.fetchone()[0]


def test_ingestion_creates_the_month_of_an_old_sample_and_stores_it_there():
    deployment = factories.deployment()
    old = dt.datetime(2019, 3, 14, 23, 59, tzinfo=UTC)
    assert _table_oid("drift_app_productionsample_p2019_03") is None

    result = services.samples_ingest(deployment=deployment, records=[_record("old", old), _record("now", timezone.now())])

    old_id, now_id = (s.id for s in result.samples)
    assert _partition_of(old_id) == "drift_app_productionsample_p2019_03"
    assert _partition_of(now_id) == f"drift_app_productionsample_p{timezone.now():%Y_%m}"


def test_a_month_boundary_is_in_utc():
    deployment = factories.deployment()
    # 00:30 on 1 April in Berlin is still 31 March in UTC.
    berlin_april = dt.datetime(2019, 4, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    result = services.samples_ingest(deployment=deployment, records=[_record("edge", berlin_april)])
    assert _partition_of(result.samples[0].id) == "drift_app_productionsample_p2019_03"


def test_an_external_id_sent_again_with_another_timestamp_is_not_stored_twice():
    deployment = factories.deployment()
    first = services.samples_ingest(deployment=deployment, records=[_record("dup", dt.datetime(2020, 1, 5, tzinfo=UTC))])
    again = services.samples_ingest(deployment=deployment, records=[_record("dup", dt.datetime(2020, 6, 5, tzinfo=UTC))])

    assert first.samples[0].created and not again.samples[0].created
    assert again.samples[0].id == first.samples[0].id
    assert ProductionSample.objects.filter(deployment=deployment, external_id="dup").count() == 1


def test_the_orm_creates_missing_months_too():
    deployment = factories.deployment()
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id="bulk", prompt="p", response="r", model_version="v1",
                         client_timestamp=dt.datetime(2018, 7, 1, tzinfo=UTC)),
    ])
    single = ProductionSample.objects.create(deployment=deployment, external_id="one", prompt="p", response="r",
                                             model_version="v1", client_timestamp=dt.datetime(2018, 8, 31, tzinfo=UTC))
    assert _partition_of(rows[0].id) == "drift_app_productionsample_p2018_07"
    assert _partition_of(single.id) == "drift_app_productionsample_p2018_08"


def test_every_month_has_its_own_copy_of_every_index():
    deployment = factories.deployment()
    services.samples_ingest(deployment=deployment, records=[_record("x", dt.datetime(2017, 2, 2, tzinfo=UTC))])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'drift_app_productionsample'")
        on_parent = cursor.fetchone()[0]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'drift_app_productionsample_p2017_02'")
        on_month = [row[0] for row in cursor.fetchall()]
    assert on_parent >= 8 and len(on_month) == on_parent
    assert any("(embed_queued_at, id) WHERE (prompt_embedding IS NULL)" in d for d in on_month)


def test_a_window_query_reads_only_its_months():
    deployment = factories.deployment()
    services.samples_ingest(deployment=deployment, records=[_record("a", dt.datetime(2016, 5, 2, tzinfo=UTC)),
                                                            _record("b", dt.datetime(2016, 9, 2, tzinfo=UTC))])
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id FROM drift_app_productionsample WHERE deployment_id = %s "
            "AND client_timestamp >= '2016-05-01T00:00Z' AND client_timestamp < '2016-06-01T00:00Z'",
            [deployment.id],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "p2016_05" in plan and "p2016_09" not in plan


def test_dropping_a_month_drops_its_table_and_carries_the_evidence_over(personas):
    deployment = factories.deployment()
    march = dt.datetime(2021, 3, 10, tzinfo=UTC)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"m{i}", prompt=f"march prompt {i}", response="a",
                         model_version="v1", client_timestamp=march + dt.timedelta(hours=i))
        for i in range(20)
    ] + [ProductionSample(deployment=deployment, external_id="april", prompt="april prompt", response="a",
                          model_version="v1", client_timestamp=dt.datetime(2021, 4, 2, tzinfo=UTC))])
    flag = flag_create(sample=rows[0], user=personas.alice, reason="incorrect", comment="wrong")
    golden_item_create(author=personas.bob, prompt="march prompt 1", reference_answer="the right answer",
                       category="billing", reason="from production", source="authored", source_sample=rows[1])
    march_table = _table_oid("drift_app_productionsample_p2021_03")

    dropped = services.samples_drop_months(before=dt.datetime(2021, 4, 1, tzinfo=UTC))

    march_drops = [d for d in dropped if d.month == dt.datetime(2021, 3, 1, tzinfo=UTC)]
    assert [(d.dropped, d.kept) for d in march_drops] == [(18, 2)]
    assert _table_oid("drift_app_productionsample_p2021_03") not in (None, march_table)  # a new table
    left = set(ProductionSample.objects.filter(deployment=deployment).values_list("external_id", flat=True))
    assert left == {"m0", "m1", "april"}
    assert Flag.objects.get(id=flag.id).sample.prompt == "march prompt 0"


def test_dropping_a_month_keeps_the_active_baselines_samples():
    deployment = factories.deployment()
    old = dt.datetime(2021, 5, 3, tzinfo=UTC)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"b{i}", prompt=f"p{i}", response="r",
                         model_version="v1", client_timestamp=old + dt.timedelta(minutes=i))
        for i in range(300)
    ])
    v = np.random.default_rng(0).standard_normal((300, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    services.samples_store_vectors(ids=np.array([r.id for r in rows]), prompt_vectors=v, response_vectors=v)
    baseline = services.baseline_create(deployment=deployment, period_start=old, period_end=old + dt.timedelta(days=1),
                                        enqueue=False)
    services.baseline_fit(baseline=baseline)

    services.samples_drop_months(before=dt.datetime(2021, 6, 1, tzinfo=UTC))

    baseline.refresh_from_db()
    assert set(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True)) == set(
        baseline.sample_ids)


def test_the_daily_upkeep_makes_months_ahead_and_drops_months_past_retention():
    deployment = factories.deployment()
    now = dt.datetime(2031, 11, 20, tzinfo=UTC)
    ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"u{m}", prompt="p", response="r", model_version="v1",
                         client_timestamp=dt.datetime(2031, m, 15, tzinfo=UTC))
        for m in (6, 7, 8)
    ])
    with override_settings(DRIFTDESK_SAMPLE_RETENTION_MONTHS=4, DRIFTDESK_PARTITIONS_AHEAD=2):
        result = services.sample_partitions_maintain(now=now)

    assert all(_table_oid(f"drift_app_productionsample_p{m}") for m in ("2031_11", "2031_12", "2032_01"))
    # Four months kept (Jul-Oct before November); June ended before and goes.
    assert "2031-06" in result["dropped_months"] and "2031-07" not in result["dropped_months"]
    assert set(ProductionSample.objects.filter(deployment=deployment).values_list("external_id", flat=True)) == {
        "u7", "u8"}


def test_the_command_drops_old_months():
    deployment = factories.deployment()
    ProductionSample.objects.create(deployment=deployment, external_id="ancient", prompt="p", response="r",
                                    model_version="v1", client_timestamp=dt.datetime(2015, 1, 1, tzinfo=UTC))
    call_command("drop_sample_months", "--older-than-months", "24")
    assert not ProductionSample.objects.filter(deployment=deployment).exists()
    assert partitions.month_start(timezone.now()) in {p.start for p in partitions.existing()}


def test_a_flag_cannot_point_at_a_sample_that_does_not_exist(personas):
    deployment = factories.deployment()
    sample = factories.sample(deployment)
    with pytest.raises(IntegrityError, match="sample reference"), transaction.atomic():
        Flag.objects.create(sample_id=sample.id + 10_000, deployment=deployment, flagged_by=personas.alice,
                            reason="incorrect")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_external_id_in_different_months_store_it_once():
    import threading

    from django.db import connections

    deployment = factories.deployment()
    services.samples_ingest(deployment=deployment, records=[_record("warm", dt.datetime(2022, 1, 1, tzinfo=UTC)),
                                                            _record("warm2", dt.datetime(2022, 2, 1, tzinfo=UTC))])
    barrier, results, errors = threading.Barrier(2), [], []

    def send(month: int):
        try:
            barrier.wait()
            results.append(services.samples_ingest(
                deployment=deployment, records=[_record(f"e{i}", dt.datetime(2022, month, 1 + i, tzinfo=UTC))
                                                for i in range(20)]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(m,)) for m in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert ProductionSample.objects.filter(deployment=deployment, external_id__startswith="e").count() == 20
    first, second = ({s.external_id: s.id for s in r.samples} for r in results)
    assert first == second


@pytest.mark.django_db(transaction=True)
def test_two_sessions_creating_the_same_new_month_at_once_both_succeed():
    # Found by bench/ingest.py: two ingestion requests needing one missing month; the second waited for the
    # first's lock, then still saw the month as missing and failed with "relation … already exists" (a 500).
    import threading
    import time

    import psycopg

    from tests.drift.test_embedding_pipeline import _database_url

    month = "drift_app_productionsample_p2019_03"
    stamp = dt.datetime(2019, 3, 14, tzinfo=UTC)
    first = psycopg.connect(_database_url())
    second = psycopg.connect(_database_url())
    outcome: list = []
    try:
        first.execute("SELECT drift_app_sample_partitions_ensure(%s::timestamptz[])", [[stamp]])  # holds the lock

        def other():
            try:
                created = second.execute("SELECT drift_app_sample_partitions_ensure(%s::timestamptz[])",
                                         [[stamp]]).fetchone()[0]
                second.commit()
                outcome.append(created)
            except Exception as exc:  # surfaced by the assertion below
                outcome.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)  # the second session is now waiting for the first one's lock
        first.commit()
        thread.join(30)
    finally:
        first.close()
        second.close()
    assert outcome == [0]  # the month was made once, by the first session
    assert _table_oid(month) is not None
