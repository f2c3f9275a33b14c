"""An uploaded run may state when its answers were produced, so that historical windows can be judged."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _post(personas, deployment, golden, **extra):
    body = {"model_version": "v7", "answers": [{"golden_item_id": golden[0].pk, "answer": "$49 per month"}], **extra}
    return personas.api("erin").post(f"/api/v1/deployments/{deployment.slug}/golden/runs", body, format="json")


def test_an_upload_stores_when_its_answers_were_produced(deployment, golden, personas):
    r = _post(personas, deployment, golden, answers_produced_at="2026-03-02T10:00:00Z")
    assert r.status_code == 202 and r.json()["answers_produced_at"] == "2026-03-02T10:00:00Z"


def test_a_produced_at_that_is_not_a_date_is_a_400_naming_the_field(deployment, golden, personas):
    r = _post(personas, deployment, golden, answers_produced_at="last tuesday")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "answers_produced_at"


def test_a_produced_at_in_the_future_is_rejected(deployment, golden, personas):
    r = _post(personas, deployment, golden, answers_produced_at="2999-01-01T00:00:00Z")
    assert r.status_code == 400 and "answers_produced_at" in r.json()["detail"]
