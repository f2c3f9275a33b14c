"""Four eyes against every editor: nobody approves text they wrote or edited since the last approval.

Regression test for issue 14: SME carol rewrote bob's approved item, submitted it and approved her own
text, because the check compared the approver with the original author only. The service refuses it
with a 400, and a database trigger refuses it when something bypasses the service.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from goldenset import services
from goldenset.models import GoldenItem, GoldenSetVersion
from tests.base import join_team

from .conftest import approve, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(personas):
    """A third SME, who never touched the item."""
    user = User.objects.create_user(username="dave", password="x")
    join_team(user, "sme")
    return user


@pytest.fixture
def edited_by_carol(personas):
    """bob's item, approved by carol, then rewritten by carol and submitted again."""
    item = make_item(personas.bob)
    approve(item, author=personas.bob, approver=personas.carol)
    item = services.golden_item_update(item=item, user=personas.carol, reason="clearer",
                                       reference_answer="The Pro plan costs $59 per month.")
    return services.golden_item_submit(item=item, user=personas.carol, reason="ready")


def test_an_sme_cannot_approve_an_item_she_edited_since_its_last_approval(personas, edited_by_carol):
    with pytest.raises(ValidationError, match="you edited item"):
        services.golden_item_approve(item=edited_by_carol, user=personas.carol, reason="looks right")
    edited_by_carol.refresh_from_db()
    assert edited_by_carol.status == GoldenItem.Status.IN_REVIEW and edited_by_carol.approver is None


def test_the_approve_api_answers_400_to_an_editor(personas, edited_by_carol):
    r = personas.api("carol").post(f"/api/v1/golden/items/{edited_by_carol.pk}/approve",
                                   data=json.dumps({"reason": "ok"}), content_type="application/json")
    assert r.status_code == 400 and "Four eyes" in r.json()["detail"]


def test_a_batch_approval_refuses_the_whole_batch_when_one_item_was_edited_by_the_approver(personas, edited_by_carol):
    other = make_item(personas.bob, prompt="How long are access logs kept?", reference="90 days.")
    services.golden_item_submit(item=other, user=personas.bob, reason="ready")
    versions = GoldenSetVersion.objects.count()
    with pytest.raises(ValidationError, match="you edited item"):
        services.golden_items_approve(items=[other, edited_by_carol], user=personas.carol, reason="ok")
    assert GoldenSetVersion.objects.count() == versions
    other.refresh_from_db()
    assert other.status == GoldenItem.Status.IN_REVIEW


def test_an_sme_who_touched_neither_text_approves_it(personas, edited_by_carol, dave):
    item = services.golden_item_approve(item=edited_by_carol, user=dave, reason="checked both")
    assert item.status == GoldenItem.Status.APPROVED and item.approver == dave


def test_an_edit_reviewed_by_someone_else_no_longer_bars_its_editor_from_later_approvals(personas, edited_by_carol, dave):
    services.golden_item_approve(item=edited_by_carol, user=dave, reason="checked")
    item = services.golden_item_update(item=edited_by_carol, user=dave, reason="typo",
                                       reference_answer="The Pro plan costs $59 a month.")
    services.golden_item_submit(item=item, user=dave, reason="ready")
    # carol's edit was reviewed (by dave) before this revision; dave wrote this one.
    approved = services.golden_item_approve(item=item, user=personas.carol, reason="checked")
    assert approved.approver == personas.carol


def test_the_database_refuses_an_editor_s_approval_that_bypasses_the_service(personas, edited_by_carol):
    with pytest.raises(IntegrityError, match="four eyes"), transaction.atomic():
        GoldenItem.objects.filter(pk=edited_by_carol.pk).update(status="approved", approver=personas.carol)
    edited_by_carol.refresh_from_db()
    assert edited_by_carol.status == GoldenItem.Status.IN_REVIEW


def test_the_database_lets_an_approval_by_an_sme_who_touched_nothing_through(personas, edited_by_carol, dave):
    GoldenItem.objects.filter(pk=edited_by_carol.pk).update(status="approved", approver=dave)
    edited_by_carol.refresh_from_db()
    assert edited_by_carol.approver == dave
