"""Labelling with context: triage shows the question; a flag shows the approved golden answer to the same or
most similar question; promoting checks for duplicates by embedding; bulk approval shows acceptance criteria
and similar items. The real encoder embeds every text here."""

from __future__ import annotations

import pytest

from feedback import services
from feedback.models import Promotion
from goldenset import services as golden
from goldenset.models import GoldenItem

from .conftest import make_samples
from .test_promotion import confirm

pytestmark = pytest.mark.django_db


def approved_item(author, approver, prompt: str, answer: str, **extra) -> GoldenItem:
    item = golden.golden_item_create(author=author, prompt=prompt, reference_answer=answer, category="billing",
                                     reason="known question", **extra)
    golden.golden_item_submit(item=item, user=author, reason="ready")
    golden.golden_items_approve(items=[item], user=approver, reason="checked")
    item.refresh_from_db()
    return item


@pytest.fixture
def refund_flag(personas, deployment):
    sample = make_samples(deployment, 1, prompts=["How can I get my money back for an order?"],
                          responses=["Refunds are not possible."])[0]
    return services.flag_create(sample=sample, user=personas.alice, reason="incorrect", comment="They are.")


def test_the_triage_queue_shows_the_question_beside_the_answer(client, personas, refund_flag):
    client.force_login(personas.bob)
    page = client.get("/feedback/triage/").content.decode()
    assert "How can I get my money back for an order?" in page and "Refunds are not possible." in page


def test_a_flag_shows_the_approved_golden_answer_to_the_most_similar_question(client, personas, refund_flag):
    refund = approved_item(personas.bob, personas.carol, "How do I get a refund for an order?",
                           "Billing → Orders → Request refund, within 30 days.")
    approved_item(personas.bob, personas.carol, "How do I reset my password?", "Use 'Forgot password'.")
    # A closer draft is not an approved answer and must not be shown as one.
    golden.golden_item_create(author=personas.bob, prompt="How can I get my money back for an order?",
                              reference_answer="draft", category="billing", reason="draft")
    client.force_login(personas.bob)
    r = client.get(f"/feedback/flags/{refund_flag.pk}/")
    match = r.context["golden_match"]
    assert match[0] == refund and 0.5 < match[1] < 1.0
    page = r.content.decode()
    assert "Billing → Orders → Request refund, within 30 days." in page and "most similar" in page


def test_a_flag_without_any_approved_golden_item_says_so(client, personas, refund_flag):
    client.force_login(personas.bob)
    page = client.get(f"/feedback/flags/{refund_flag.pk}/").content.decode()
    assert "No approved golden item yet asks anything like this question." in page


def test_promoting_a_near_duplicate_is_refused_until_the_sme_says_it_is_not_one(client, personas, refund_flag):
    existing = approved_item(personas.bob, personas.carol, "How can I get my money back for an order?",
                             "Billing → Orders → Request refund.")
    confirm(refund_flag, personas.bob, corrected="Billing → Orders → Request refund.")
    client.force_login(personas.bob)
    page = client.get(f"/feedback/flags/{refund_flag.pk}/").content.decode()
    assert "likely duplicate" in page and f"#{existing.pk}" in page
    form = {"prompt": refund_flag.sample.prompt, "reference_answer": "Billing → Orders → Request refund.",
            "category": "billing", "reason": "Users keep asking.", "tags": ""}
    r = client.post(f"/feedback/flags/{refund_flag.pk}/promote/", form)
    assert r.status_code == 409
    page = r.content.decode()
    assert "already has nearly the same question" in page and f"#{existing.pk}" in page
    assert "Users keep asking.</textarea>" in page  # the form keeps what was typed
    assert not Promotion.objects.exists()
    r = client.post(f"/feedback/flags/{refund_flag.pk}/promote/", {**form, "not_duplicate": "1"})
    assert r.status_code == 302
    item = Promotion.objects.get(flag=refund_flag).golden_item
    assert item.status == "draft"
    reason = item.events.order_by("id").first().reason
    assert "confirmed it is not a duplicate" in reason and f"#{existing.pk}" in reason


def test_promoting_a_new_question_passes_the_duplicate_check(client, personas, refund_flag):
    approved_item(personas.bob, personas.carol, "How do I reset my password?", "Use 'Forgot password'.")
    confirm(refund_flag, personas.bob, corrected="Billing → Orders → Request refund.")
    client.force_login(personas.bob)
    r = client.post(f"/feedback/flags/{refund_flag.pk}/promote/", {
        "prompt": refund_flag.sample.prompt, "reference_answer": "Billing → Orders → Request refund.",
        "category": "billing", "reason": "Users keep asking.", "tags": ""})
    assert r.status_code == 302 and Promotion.objects.filter(flag=refund_flag).exists()


def test_bulk_approval_shows_acceptance_criteria_and_similar_items(client, personas):
    approved_item(personas.bob, personas.carol, "How do I get a refund for an order?", "Billing → Orders.")
    item = golden.golden_item_create(
        author=personas.bob, prompt="How can I get my money back for an order?", reference_answer="Billing.",
        category="billing", reason="new", acceptance={"must_include": ["Billing"], "must_not_include": ["cannot"]},
    )
    golden.golden_item_submit(item=item, user=personas.bob, reason="ready")
    client.force_login(personas.carol)
    page = client.get("/golden/review/").content.decode()
    assert "must include: Billing" in page and "must not include: cannot" in page
    assert "How do I get a refund for an order?" in page  # the similar approved item
