"""The audit trail page a compliance officer can use: names not ids, a readable field diff, full paging
without piled-up parameters, free-text and object search (issue 18, item 5)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from compliance import audit
from goldenset import services as golden_services
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(personas):
    deployment = factories.deployment(slug="acme", name="Acme support bot")
    with audit.acting_as(personas.erin):
        deployment.review_drop_pct = 4.0
        deployment.save()
    return deployment


def test_a_change_reads_as_a_field_diff_from_before_to_after(client, personas, acme):
    client.force_login(personas.charlie)
    html = client.get("/compliance/audit/", {"object_type": "drift_app.Deployment", "action": "update"}).content.decode()
    assert re.search(r"review drop pct</th>\s*<td><del>5</del> → <ins>4</ins>", html)
    assert "{'" not in html and '{"' not in html  # no dict reprs


def test_references_to_people_and_records_show_their_names(client, personas, acme):
    rng = np.random.default_rng(0)
    vector = rng.normal(size=384).astype(np.float32)
    with audit.acting_as(personas.bob):
        golden_services.golden_item_create(
            author=personas.bob, prompt="How do I rotate a nimbus key?", reference_answer="Settings, Keys, Rotate.",
            category="security", reason="new topic", _vector=vector / np.linalg.norm(vector))
    client.force_login(personas.charlie)
    html = client.get("/compliance/audit/", {"object_type": "goldenset.GoldenItem", "q": "nimbus"}).content.decode()
    assert re.search(rf"author</th>\s*<td><ins>bob \(#{personas.bob.pk}\)</ins>", html)


def test_the_pager_offers_first_previous_next_and_last_and_never_piles_up_pages(client, personas, acme):
    with audit.acting_as(personas.erin):
        for pct in range(1, 120):
            acme.review_drop_pct = float(pct)
            acme.save()
    client.force_login(personas.charlie)
    html = client.get("/compliance/audit/", {"deployment": "acme", "page": "2"}).content.decode()
    links = re.findall(r'href="\?([^"]*page=\d+)"', html)
    assert links and all(link.count("page=") == 1 for link in links)
    assert "« First" in html and "‹ Newer" in html and "Older ›" in html and "Last »" in html
    pages = int(re.search(r"Page 2 of (\d+)", html).group(1))
    assert f"deployment=acme&amp;page={pages}" in html


def test_free_text_search_finds_events_by_a_value_they_changed(client, personas, acme):
    client.force_login(personas.charlie)
    page = client.get("/compliance/audit/", {"q": "4.0"})
    assert [r["event"].object_id for r in page.context["rows"]] == [str(acme.pk)]
    assert client.get("/compliance/audit/", {"q": "no such value anywhere"}).context["rows"] == []


def test_each_event_links_to_every_event_of_its_object(client, personas, acme):
    client.force_login(personas.charlie)
    html = client.get("/compliance/audit/", {"deployment": "acme"}).content.decode()
    assert f'href="?object_type=drift_app.Deployment&amp;object_id={acme.pk}"' in html
    page = client.get("/compliance/audit/", {"object_type": "drift_app.Deployment", "object_id": str(acme.pk)})
    assert {r["event"].object_id for r in page.context["rows"]} == {str(acme.pk)}
