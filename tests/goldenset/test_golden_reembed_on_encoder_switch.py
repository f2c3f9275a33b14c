"""Switching encoder (DRIFTDESK_ENCODER) re-embeds the golden set in the background, with progress; until an
item is re-embedded, nearest-item and coverage queries leave it out instead of comparing two encoders' vectors."""

from __future__ import annotations

import pytest

from drift_app import embeddings
from drift_app.integrations import encoders
from goldenset import selectors, services
from goldenset.models import GoldenItem
from goldenset.tasks import golden_items_reembed_task

pytestmark = pytest.mark.django_db

QUESTION = "How long are access logs kept?"


@pytest.fixture
def switched(golden, monkeypatch):
    """The golden set embedded by the old encoder; the process now runs another one (its own model name)."""
    monkeypatch.setattr(embeddings, "MODEL_NAME", encoders.model_name("onnx"))
    return golden


def test_items_of_the_old_encoder_are_left_out_of_nearest_item_queries_until_re_embedded(switched, deployment):
    assert selectors.golden_nearest_to_text(text=QUESTION, team=deployment.team_id) == []
    assert selectors.golden_embedding_counts(team=deployment.team_id) == {"total": 3, "embedded_current": 0}

    assert services.golden_items_reembed() == 3

    assert selectors.golden_embedding_counts(team=deployment.team_id) == {"total": 3, "embedded_current": 3}
    nearest, similarity = selectors.golden_nearest_to_text(text=QUESTION, team=deployment.team_id)[0]
    assert nearest.prompt == QUESTION and similarity > 0.99
    assert set(GoldenItem.objects.values_list("embedding_model", flat=True)) == {encoders.model_name("onnx")}


def test_re_embedding_takes_at_most_its_cap_and_the_task_finishes_the_rest(switched, deployment, monkeypatch):
    assert services.golden_items_reembed(batch=1, cap=2) == 2
    assert selectors.golden_embedding_counts(team=deployment.team_id)["embedded_current"] == 2
    assert golden_items_reembed_task.apply().get() == 1
    assert services.golden_items_reembed() == 0  # nothing left: a second run changes nothing


def test_the_coverage_page_shows_re_embedding_progress(switched, deployment, personas, client):
    services.golden_items_reembed(cap=1)
    client.force_login(personas.bob)
    page = client.get(f"/golden/deployments/{deployment.slug}/coverage/")
    assert page.status_code == 200, page.status_code
    assert "1 of 3 items done" in page.content.decode()
