"""The SME journey, clicks only after sign-in: triage a flag with the question and the approved golden answer
beside it, label it, promote it with the duplicate check, submit it; a second SME approves it.
Every page passes check_page (axe, overflow at 800/1400 px, CSP). The real encoder embeds the texts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from drift_app.models import ProductionSample
from feedback import services as feedback_services
from feedback.models import Flag, Promotion
from goldenset import services as golden
from goldenset.models import GoldenItem
from tests import factories
from tests.e2e.journeys import nav, sign_in, sign_out
from tests.e2e.page_checks import check_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flagged(personas):
    deployment = factories.deployment(name="Support bot", slug="support-bot")
    sample = ProductionSample.objects.create(
        deployment=deployment, external_id="refund-1", model_version="v2", client_timestamp=timezone.now(),
        prompt="Can I get a refund after 30 days?", response="No refunds are ever possible.",
    )
    flag = feedback_services.flag_create(sample=sample, user=personas.alice, reason="incorrect",
                                         comment="Refunds are possible within 60 days.")
    golden_item = golden.golden_item_create(
        author=personas.bob, prompt="How long do I have to ask for a refund?",
        reference_answer="Up to 60 days after delivery, from Billing → Orders.", category="billing", reason="policy",
    )
    golden.golden_item_submit(item=golden_item, user=personas.bob, reason="ready")
    golden.golden_items_approve(items=[golden_item], user=personas.carol, reason="checked against policy")
    return flag


def test_an_sme_triages_labels_and_promotes_a_flag_and_another_sme_approves_it(flagged, live_server, page):
    sign_in(page, live_server.url, "bob", name="sme")

    nav(page, "Triage")
    row = page.locator("tr", has_text="Can I get a refund after 30 days?")
    assert "No refunds are ever possible." in row.inner_text()
    check_page(page, "sme-03-triage")

    row.get_by_role("button", name="Claim").click()
    page.wait_for_load_state()
    assert "Can I get a refund after 30 days?" in page.inner_text("#flag-question")
    assert "No refunds are ever possible." in page.inner_text("#flag-answer-text")
    assert "Up to 60 days after delivery" in page.inner_text("#golden-match")
    check_page(page, "sme-04-flag-claimed")

    page.check("input[name=label][value=confirmed_bad]")
    page.fill("textarea[name=corrected_answer]", "Yes: refunds are possible up to 60 days after delivery.")
    page.get_by_role("button", name="Save label").click()
    page.wait_for_load_state()
    assert "Label saved" in page.inner_text("main .messages")
    check_page(page, "sme-05-labelled")

    # The resolved flag has left the queue; All flags lists it.
    page.get_by_role("link", name="All flags").click()
    page.wait_for_load_state()
    check_page(page, "sme-06-all-flags")
    page.get_by_role("link", name=f"#{flagged.pk}", exact=True).click()
    page.wait_for_load_state()
    similar = page.locator("#similar-golden")
    assert "How long do I have to ask for a refund?" in similar.inner_text()
    assert "likely duplicate" not in similar.inner_text()
    check_page(page, "sme-07-promote-with-duplicate-check")

    page.fill("input[name=category]", "billing")
    page.fill("form[action$='/promote/'] textarea[name=reason]", "Users keep asking about late refunds.")
    page.get_by_role("button", name="Promote as draft").click()
    page.wait_for_load_state()
    assert "draft golden item" in page.inner_text("main .messages")
    page.fill("form[action$='/submit/'] textarea[name=reason]", "Checked against the refund policy.")
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_load_state()
    check_page(page, "sme-08-submitted")
    item = Promotion.objects.get(flag=flagged).golden_item
    assert item.status == GoldenItem.Status.IN_REVIEW
    assert Flag.objects.get(pk=flagged.pk).status == Flag.Status.RESOLVED
    sign_out(page)

    sign_in(page, live_server.url, "carol", name="sme-second")
    nav(page, "Golden approvals")
    row = page.locator("tr", has_text="Can I get a refund after 30 days?")
    assert "How long do I have to ask for a refund?" in row.inner_text()  # the similar approved item beside it
    check_page(page, "sme-second-03-golden-approvals")
    row.locator("input[name=items]").check()
    page.fill("#approve-reason", "Matches the refund policy.")
    page.get_by_role("button", name="Approve selected").click()
    page.wait_for_load_state()
    assert "approved" in page.inner_text("main .messages")
    check_page(page, "sme-second-04-approved")
    item.refresh_from_db()
    assert item.status == GoldenItem.Status.APPROVED and item.approver.username == "carol"
