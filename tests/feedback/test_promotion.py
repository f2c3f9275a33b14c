"""Promotion of confirmed flags into the golden set: lineage, personal data, evidence kept."""

from __future__ import annotations

import json

import pytest
from django.db.models import ProtectedError

from feedback import selectors, services
from feedback.models import Promotion
from goldenset.models import GoldenItem
from goldenset.pii import find_pii

from .conftest import make_samples

pytestmark = pytest.mark.django_db


def confirm(flag, sme, label="confirmed_bad", corrected="Open Admin → Keys and click Rotate."):
    services.flag_claim(flag=flag, user=sme)
    services.flag_label(flag=flag, user=sme, label=label, corrected_answer=corrected)
    flag.refresh_from_db()
    return flag


def promote(client, flag_id, **body):
    body = {"category": "api", "reason": "Users keep hitting this.", **body}
    return client.post(f"/api/v1/flags/{flag_id}/promotion", data=json.dumps(body), content_type="application/json")


def test_a_confirmed_flag_with_a_corrected_answer_becomes_a_draft_golden_item_with_lineage(personas, flag):
    confirm(flag, personas.bob)
    r = promote(personas.api("bob"), flag.pk, tags=["keys"])
    assert r.status_code == 201, r.content
    item = GoldenItem.objects.get(pk=r.json()["golden_item_id"])
    assert item.status == "draft" and item.source == "flag"
    assert item.source_sample_id == flag.sample_id
    assert item.prompt == flag.sample.prompt
    assert item.reference_answer == "Open Admin → Keys and click Rotate."
    assert item.author == personas.bob and item.tags == ["keys"]
    promotion = Promotion.objects.get(flag=flag)
    assert (promotion.golden_item, promotion.sample, promotion.promoted_by) == (item, flag.sample, personas.bob)
    # The reporter sees that their flag made it into the golden set.
    mine = personas.api("alice").get(f"/api/v1/flags/{flag.pk}").json()
    assert mine["promotion"]["golden_item_id"] == item.pk


def test_a_flag_is_promoted_only_once(personas, flag):
    confirm(flag, personas.bob)
    assert promote(personas.api("bob"), flag.pk).status_code == 201
    r = promote(personas.api("carol"), flag.pk)
    assert r.status_code == 409 and "already promoted" in r.json()["detail"]


@pytest.mark.parametrize("label", ["not_a_problem", None])
def test_a_flag_that_is_not_confirmed_is_not_promoted(personas, flag, label):
    if label:
        confirm(flag, personas.bob, label=label, corrected="")
    r = promote(personas.api("bob"), flag.pk, reference_answer="Something.")
    assert r.status_code == 409 and "not a confirmed problem" in r.json()["detail"]
    assert not GoldenItem.objects.exists()


def test_a_confirmed_flag_without_a_corrected_answer_needs_one_to_be_promoted(personas, flag):
    confirm(flag, personas.bob, corrected="")
    r = promote(personas.api("bob"), flag.pk)
    assert r.status_code == 400 and "no corrected answer" in r.json()["detail"]
    assert promote(personas.api("bob"), flag.pk, reference_answer="The right answer.").status_code == 201


def test_an_outdated_knowledge_flag_with_an_adjudicated_answer_promotes_the_adjudicators_answer(personas, deployment):
    from feedback.models import DeploymentFeedbackSettings

    DeploymentFeedbackSettings.objects.create(deployment=deployment, overlap=2)
    sample = make_samples(deployment, 1, prefix="adj")[0]
    flag = services.flag_create(sample=sample, user=personas.alice, reason="outdated")
    confirm(flag, personas.bob, "confirmed_bad", "Bob's answer.")
    confirm(flag, personas.carol, "outdated_knowledge", "Carol's answer.")
    services.flag_claim(flag=flag, user=personas.carol)
    services.flag_adjudicate(flag=flag, user=personas.carol, label="outdated_knowledge",
                             comment="Prices changed.", corrected_answer="The adjudicated answer.")
    r = promote(personas.api("bob"), flag.pk)
    assert r.status_code == 201
    assert GoldenItem.objects.get().reference_answer == "The adjudicated answer."


def test_personal_data_in_a_promoted_item_is_reported_and_blocks_review_until_acknowledged(personas, deployment):
    from goldenset import services as golden

    prompt = "My card 4111 1111 1111 1111 was charged twice, mail me at jo@example.com"
    sample = make_samples(deployment, 1, prefix="pii", prompts=[prompt])[0]
    flag = confirm(services.flag_create(sample=sample, user=personas.alice, reason="incorrect"), personas.bob)
    r = promote(personas.api("bob"), flag.pk)
    assert r.status_code == 201
    kinds = sorted((p["field"], p["kind"]) for p in r.json()["pii"])
    assert kinds == [("prompt", "card"), ("prompt", "email")]
    item = GoldenItem.objects.get()
    with pytest.raises(Exception, match="personal data"):
        golden.golden_item_submit(item=item, user=personas.bob, reason="ready")
    golden.golden_item_acknowledge_pii(item=item, user=personas.bob, reason="Test card and address.")
    assert golden.golden_item_submit(item=item, user=personas.bob, reason="ready").status == "in_review"


def test_a_redacted_prompt_promotes_with_no_personal_data_left(personas, deployment):
    sample = make_samples(deployment, 1, prefix="red", prompts=["Call me on +44 20 7946 0958 about my bill"])[0]
    flag = confirm(services.flag_create(sample=sample, user=personas.alice, reason="incorrect"), personas.bob)
    r = promote(personas.api("bob"), flag.pk, prompt="Call me on [phone] about my bill")
    assert r.status_code == 201 and r.json()["pii"] == []
    assert GoldenItem.objects.get().prompt == "Call me on [phone] about my bill"
    # The sample itself keeps the original text: it is evidence.
    sample.refresh_from_db()
    assert "+44 20 7946 0958" in sample.prompt


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("write to jane.doe+billing@example.co.uk please", ["email"]),
        ("call +49 30 1234 5678 tomorrow", ["phone"]),
        ("card 4111-1111-1111-1111 expired", ["card"]),
        ("IBAN GB82 WEST 1234 5698 7654 32 for the refund", ["iban"]),
        ("order 4111-1111-1111-1112 shipped", []),  # fails the Luhn check: an order number, not a card
        ("released 2024-01-31 as version 1.2.3", []),
        ("jo@example.com, DE89370400440532013000", ["email", "iban"]),
    ],
)
def test_likely_personal_data_is_found(text, kinds):
    assert [f.kind for f in find_pii(text)] == kinds


def test_the_flag_page_highlights_personal_data_in_the_prompt(client, personas, deployment):
    sample = make_samples(deployment, 1, prefix="hl", prompts=["Refund to DE89370400440532013000 please"])[0]
    flag = confirm(services.flag_create(sample=sample, user=personas.alice, reason="incorrect"), personas.bob)
    client.force_login(personas.bob)
    html = client.get(f"/feedback/flags/{flag.pk}/").content.decode()
    assert '<mark class="pii" title="likely iban">DE89370400440532013000</mark>' in html
    assert "Promote into the golden set" in html


def test_promotion_from_the_flag_page_then_submission_needs_the_personal_data_acknowledged(client, personas, deployment):
    sample = make_samples(deployment, 1, prefix="pg", prompts=["Mail jo@example.com the invoice"])[0]
    flag = confirm(services.flag_create(sample=sample, user=personas.alice, reason="incorrect"), personas.bob)
    client.force_login(personas.bob)
    r = client.post(f"/feedback/flags/{flag.pk}/promote/", {
        "prompt": sample.prompt, "reference_answer": "Invoices are under Billing.", "category": "billing",
        "reason": "Common question.", "tags": "invoices, billing",
    })
    assert r.status_code == 302
    item = Promotion.objects.get(flag=flag).golden_item
    assert item.tags == ["billing", "invoices"]
    r = client.post(f"/feedback/flags/{flag.pk}/submit/", {"reason": "Ready."})
    assert r.status_code == 409 and "personal data" in r.content.decode()
    r = client.post(f"/feedback/flags/{flag.pk}/submit/", {"reason": "Fake address.", "acknowledge_pii": "1"})
    assert r.status_code == 302
    item.refresh_from_db()
    assert item.status == "in_review"


def test_a_flagged_sample_is_never_deleted(personas, flag):
    with pytest.raises(ProtectedError):
        flag.sample.delete()


def test_a_promoted_sample_is_never_deleted_and_counts_as_referenced(personas, flag, samples):
    confirm(flag, personas.bob)
    services.flag_promote(flag=flag, user=personas.bob, category="api", reason="Keep it.")
    assert selectors.referenced_sample_ids(deployment=flag.deployment) == {flag.sample_id}
    with pytest.raises(ProtectedError):
        flag.sample.delete()
    # Unreferenced samples may go.
    samples[4].delete()


def test_referenced_samples_include_golden_items_authored_from_a_sample(personas, deployment, samples):
    from goldenset import services as golden

    golden.golden_item_create(author=personas.bob, prompt="Q?", reference_answer="A.", category="api",
                              reason="From a sample.", source_sample=samples[3])
    assert selectors.referenced_sample_ids(deployment=deployment) == {samples[3].pk}
