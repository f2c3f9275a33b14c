"""Golden items: review with four eyes, PII gate, history, immutable versions and diffs."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from drift_app.models import default_team_id
from goldenset import selectors, services
from goldenset.models import (
    GoldenItem,
    GoldenSetVersion,
    GoldenSetVersionItem,
    ImmutableError,
)

from .conftest import approve, make_item

pytestmark = pytest.mark.django_db


def test_a_new_item_is_a_draft_with_its_prompt_vector_and_a_history_entry(personas):
    item = make_item(personas.bob, tags=["Pricing", "pricing "], acceptance={"must_include": ["$49"]})
    assert item.status == "draft" and item.author == personas.bob and item.approver is None
    assert item.tags == ["pricing"]
    assert len(GoldenItem.objects.values_list("prompt_embedding", flat=True).get(pk=item.pk)) == 384
    [event] = selectors.golden_item_history(item=item)
    assert event.action == "created" and event.reason == "test" and event.snapshot["prompt"] == item.prompt


def test_every_change_needs_a_reason(personas):
    with pytest.raises(ValidationError, match="reason"):
        services.golden_item_create(author=personas.bob, prompt="p", reference_answer="r", category="c", reason=" ")


def test_the_author_cannot_approve_their_own_item(personas):
    item = make_item(personas.bob)
    services.golden_item_submit(item=item, user=personas.bob, reason="ready")
    with pytest.raises(ValidationError, match="Four eyes"):
        services.golden_item_approve(item=item, user=personas.bob, reason="looks fine to me")
    item.refresh_from_db()
    assert item.status == "in_review" and not GoldenSetVersion.objects.exists()


def test_the_database_also_refuses_an_approver_who_is_the_author(personas):
    item = make_item(personas.bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        GoldenItem.objects.filter(pk=item.pk).update(approver=personas.bob)


def test_another_sme_approves_and_a_version_is_cut(personas):
    item = approve(make_item(personas.bob), author=personas.bob, approver=personas.carol)
    assert item.status == "approved" and item.approver == personas.carol
    version = selectors.golden_version_latest(team=default_team_id())
    assert version.number == 1 and version.item_count == 1
    assert [vi.item_id for vi in version.items.all()] == [item.pk]
    actions = [e.action for e in selectors.golden_item_history(item=item)]
    assert actions == ["created", "submitted", "approved"]


def test_only_items_in_review_can_be_approved_or_rejected(personas):
    item = make_item(personas.bob)
    with pytest.raises(ValidationError, match="only items in review"):
        services.golden_item_approve(item=item, user=personas.carol, reason="x")
    with pytest.raises(ValidationError, match="Only items in review"):
        services.golden_item_reject(item=item, user=personas.carol, reason="x")


def test_a_rejection_sends_the_item_back_to_draft_with_the_comment(personas):
    item = make_item(personas.bob)
    services.golden_item_submit(item=item, user=personas.bob, reason="ready")
    services.golden_item_reject(item=item, user=personas.carol, reason="The price changed in March")
    item.refresh_from_db()
    assert item.status == "draft"
    assert selectors.golden_item_history(item=item).last().reason == "The price changed in March"


def test_submitting_an_item_with_unacknowledged_pii_is_refused(personas):
    item = make_item(personas.bob, prompt="My card 4111 1111 1111 1111 was charged twice, why?")
    with pytest.raises(ValidationError, match="card in the prompt"):
        services.golden_item_submit(item=item, user=personas.bob, reason="ready")


def test_pii_can_be_redacted_by_editing_it_away(personas):
    item = make_item(personas.bob, prompt="Mail me at jane@example.com: why was I charged twice?")
    item = services.golden_item_update(item=item, user=personas.bob, reason="redact", prompt="Why was I charged twice?")
    assert services.golden_item_submit(item=item, user=personas.bob, reason="ready").status == "in_review"


def test_an_acknowledgement_covers_only_the_text_it_was_given_for(personas):
    item = make_item(personas.bob, reference="Email security@acme.example to report a vulnerability.")
    item = services.golden_item_acknowledge_pii(item=item, user=personas.bob, reason="public company address")
    item = services.golden_item_update(item=item, user=personas.bob, reason="add phone",
                                       reference_answer="Email security@acme.example or call +44 20 7946 0958.")
    with pytest.raises(ValidationError, match="phone"):
        services.golden_item_submit(item=item, user=personas.bob, reason="ready")
    item = services.golden_item_acknowledge_pii(item=item, user=personas.bob, reason="public hotline")
    assert services.golden_item_submit(item=item, user=personas.bob, reason="ready").status == "in_review"


def test_editing_an_approved_item_returns_it_to_draft_and_keeps_the_version(personas):
    item = approve(make_item(personas.bob), author=personas.bob, approver=personas.carol)
    item = services.golden_item_update(item=item, user=personas.carol, reason="price rise",
                                       reference_answer="The Pro plan costs $59 per month.")
    assert item.status == "draft" and item.revision == 2 and item.approver is None
    # The latest version still holds the text that was approved.
    assert selectors.golden_version_latest(team=default_team_id()).items.get().reference_answer == "The Pro plan costs $49 per month."


def test_an_identical_edit_is_refused(personas):
    item = make_item(personas.bob)
    with pytest.raises(ValidationError, match="Nothing changed"):
        services.golden_item_update(item=item, user=personas.bob, reason="x", prompt=item.prompt)


def test_versions_and_their_items_are_immutable(personas):
    approve(make_item(personas.bob), author=personas.bob, approver=personas.carol)
    version = selectors.golden_version_latest(team=default_team_id())
    version.reason = "rewritten"
    with pytest.raises(ImmutableError):
        version.save()
    with pytest.raises(ImmutableError):
        version.delete()
    vi = version.items.get()
    vi.reference_answer = "changed"
    with pytest.raises(ImmutableError):
        vi.save()
    assert GoldenSetVersionItem.objects.get(pk=vi.pk).reference_answer == "The Pro plan costs $49 per month."


def test_the_content_hash_is_stable_and_depends_only_on_approved_content(personas):
    item = approve(make_item(personas.bob), author=personas.bob, approver=personas.carol)
    v1 = selectors.golden_version_latest(team=default_team_id())
    expected = services.version_content_hash({item.pk: services.item_content_hash(item)})
    assert v1.content_hash == expected and len(expected) == 64
    # A draft that is not approved does not change the hash of the next version.
    make_item(personas.bob, prompt="How do I reset my password?", reference="Use Forgot password.")
    other = make_item(personas.bob, prompt="Is data encrypted?", reference="Yes, AES-256.")
    approve(other, author=personas.bob, approver=personas.carol)
    services.golden_item_retire(item=other, user=personas.carol, reason="duplicate")
    v3 = selectors.golden_version_latest(team=default_team_id())
    assert v3.number == 3 and v3.content_hash == v1.content_hash


def test_the_diff_lists_added_changed_and_retired_items(personas, golden):
    price, logs, password = golden
    v1 = selectors.golden_version_latest(team=default_team_id())
    services.golden_item_retire(item=logs, user=personas.carol, reason="policy moved")
    price = services.golden_item_update(item=price, user=personas.bob, reason="price rise",
                                        reference_answer="The Pro plan costs $59 per month.",
                                        acceptance={"must_include": ["$59"]})
    approve(price, author=personas.bob, approver=personas.carol)
    approve(make_item(personas.carol, prompt="Do you have webhooks?", reference="Yes."),
            author=personas.carol, approver=personas.bob)
    diff = selectors.golden_version_diff(old=v1, new=selectors.golden_version_latest(team=default_team_id()))
    assert [vi.item_id for vi in diff.retired] == [logs.pk]
    assert [(a.item_id, a.revision, b.revision) for a, b in diff.changed] == [(price.pk, 1, 2)]
    assert [vi.prompt for vi in diff.added] == ["Do you have webhooks?"]


def test_a_batch_approval_cuts_one_version_and_is_all_or_nothing(personas):
    mine = make_item(personas.carol, prompt="Do you have webhooks?", reference="Yes.")
    theirs = make_item(personas.bob)
    for item, user in ((mine, personas.carol), (theirs, personas.bob)):
        services.golden_item_submit(item=item, user=user, reason="ready")
    with pytest.raises(ValidationError, match="Four eyes"):
        services.golden_items_approve(items=[mine, theirs], user=personas.carol, reason="batch")
    assert not GoldenItem.objects.filter(status="approved").exists()
    version = services.golden_items_approve(items=[theirs], user=personas.carol, reason="batch")
    assert version.number == 1 and version.item_count == 1
