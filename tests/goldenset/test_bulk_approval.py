"""SMEs approve several items in one API call, which makes one golden-set version (issue 14).

Before, each approval cut its own version: one import approved item by item made hundreds of versions.
"""

from __future__ import annotations

import json

import pytest

from goldenset import services
from goldenset.models import GoldenItem, GoldenSetVersion

from .conftest import make_item

pytestmark = pytest.mark.django_db
URL = "/api/v1/golden/items/approve"


@pytest.fixture
def in_review(personas):
    items = []
    for n in range(3):
        item = make_item(personas.bob, prompt=f"Question number {n} about the Pro plan?", reference=f"Answer {n}.")
        items.append(services.golden_item_submit(item=item, user=personas.bob, reason="ready"))
    return items


def _post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_approving_three_items_in_one_call_makes_one_version_holding_all_three(personas, in_review):
    before = GoldenSetVersion.objects.count()
    r = _post(personas.api("carol"), {"ids": [i.pk for i in in_review], "reason": "checked the batch"})
    assert r.status_code == 200, r.json()
    assert GoldenSetVersion.objects.count() == before + 1
    version = GoldenSetVersion.objects.get(number=r.json()["number"])
    assert r.json()["item_count"] == 3 and sorted(version.items.values_list("item_id", flat=True)) == sorted(i.pk for i in in_review)
    assert set(GoldenItem.objects.filter(pk__in=[i.pk for i in in_review]).values_list("status", flat=True)) == {"approved"}


def test_the_author_s_batch_is_refused_whole_and_makes_no_version(personas, in_review):
    before = GoldenSetVersion.objects.count()
    r = _post(personas.api("bob"), {"ids": [i.pk for i in in_review], "reason": "mine"})
    assert r.status_code == 400 and "Four eyes" in r.json()["detail"]
    assert GoldenSetVersion.objects.count() == before
    assert not GoldenItem.objects.filter(status="approved").exists()


@pytest.mark.parametrize("body, field", [
    ({"ids": [], "reason": "x"}, "ids"),
    ({"ids": ["one"], "reason": "x"}, "ids"),
    ({"ids": [1]}, "reason"),
])
def test_a_malformed_batch_is_a_400_naming_the_field(personas, in_review, body, field):
    r = _post(personas.api("carol"), body)
    assert r.status_code == 400 and field in r.json()["errors"]


def test_an_unknown_id_is_a_400_naming_it_and_nothing_is_approved(personas, in_review):
    r = _post(personas.api("carol"), {"ids": [in_review[0].pk, 987654321], "reason": "x"})
    assert r.status_code == 400 and "987654321" in r.json()["detail"]
    assert not GoldenItem.objects.filter(status="approved").exists()


@pytest.mark.parametrize("name, status", [("alice", 403), ("charlie", 403), ("erin", 403), (None, 401)])
def test_only_smes_approve_in_bulk(personas, in_review, name, status):
    assert _post(personas.api(name), {"ids": [in_review[0].pk], "reason": "x"}).status_code == status
