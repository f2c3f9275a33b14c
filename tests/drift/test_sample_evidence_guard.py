"""The database itself refuses deleting a sample that is evidence (migration drift_app 0016), not only the ORM."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from drift_app.models import Baseline, ProductionSample
from feedback.services import flag_create
from goldenset.services import golden_item_create
from tests import factories
from tests.base import as_owner

pytestmark = pytest.mark.django_db


def _raw_delete(sample_id: int, *, table: str = "drift_app_productionsample") -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [sample_id])
        return cursor.rowcount


def test_a_raw_delete_of_a_flagged_sample_is_refused_and_an_unreferenced_one_goes(personas):
    deployment = factories.deployment()
    flagged, plain = factories.sample(deployment), factories.sample(deployment)
    flag = flag_create(sample=flagged, user=personas.alice, reason="incorrect", comment="wrong price")

    with pytest.raises(IntegrityError, match=rf"sample {flagged.id} is evidence .* flag {flag.id} refers to it"):
        _raw_delete(flagged.id)

    assert _raw_delete(plain.id) == 1
    assert set(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True)) == {flagged.id}


def test_a_delete_naming_the_months_table_is_refused_for_a_golden_items_source(personas):
    deployment = factories.deployment()
    source = factories.sample(deployment)
    golden_item_create(author=personas.bob, prompt="What is the discount code?", reference_answer="There is none.",
                       category="billing", reason="from production", source="authored", source_sample=source)
    month = timezone.now().astimezone(dt.UTC).strftime("%Y_%m")

    # The runtime role may not name a month's table at all (db_roles); the owner reaches the guard.
    with pytest.raises(ProgrammingError, match="permission denied"):
        _raw_delete(source.id, table=f"drift_app_productionsample_p{month}")
    with as_owner(), pytest.raises(IntegrityError, match="golden item"):
        _raw_delete(source.id, table=f"drift_app_productionsample_p{month}")
    assert ProductionSample.objects.filter(id=source.id).exists()


def test_a_sample_of_the_active_baseline_cannot_be_deleted_until_the_baseline_is_no_longer_active():
    deployment = factories.deployment()
    sample = factories.sample(deployment)
    now = timezone.now()
    baseline = Baseline.objects.create(deployment=deployment, period_start=now - dt.timedelta(days=1),
                                       period_end=now + dt.timedelta(days=1), sample_ids=[sample.id],
                                       sample_count=1, status=Baseline.Status.FITTED, is_active=True)

    with pytest.raises(IntegrityError, match=f"active baseline {baseline.id}"):
        _raw_delete(sample.id)

    Baseline.objects.filter(id=baseline.id).update(is_active=False)
    assert _raw_delete(sample.id) == 1
