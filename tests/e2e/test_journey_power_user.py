"""The power user's journey, clicks only after sign-in: find an answer by search and filter, flag it from its
row, follow it in My flags, open it. Every page passes check_page (axe, overflow at 800/1400 px, CSP)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from drift_app.models import ProductionSample
from feedback.models import Flag
from tests import factories
from tests.e2e.journeys import nav, sign_in
from tests.e2e.page_checks import check_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def answers(personas):
    deployment = factories.deployment(name="Support bot", slug="support-bot")
    now = timezone.now()
    rows = [ProductionSample(deployment=deployment, external_id=f"k-{i}", model_version="v1",
                             prompt=f"How do I rotate the API key for project {i}?",
                             response=f"Settings → API keys → project {i} → Rotate.",
                             client_timestamp=now - dt.timedelta(hours=i + 2)) for i in range(70)]
    rows.append(ProductionSample(deployment=deployment, external_id="refund-1", model_version="v2",
                                 prompt="Can I get a refund after 30 days?",
                                 response="No refunds are ever possible.", client_timestamp=now - dt.timedelta(hours=1)))
    ProductionSample.objects.bulk_create(rows)
    return ProductionSample.objects.get(external_id="refund-1")


def test_a_power_user_finds_an_answer_flags_it_from_its_row_and_follows_it_in_my_flags(
    answers, live_server, page,
):
    sign_in(page, live_server.url, "alice", name="power-user")

    nav(page, "Find answers")
    assert "Showing 1–50 of 71 answers" in page.inner_text("main")
    check_page(page, "power-user-03-find-answers")

    page.fill("#id_q", "refund")
    page.select_option("#id_model_version", "v2")
    page.click("#sample-filters button[type=submit]")
    page.wait_for_load_state()
    results = page.locator("#sample-results tbody tr")
    assert results.count() == 1 and "Can I get a refund after 30 days?" in results.inner_text()
    check_page(page, "power-user-04-search-results")

    results.locator("summary").click()
    page.select_option(f"#reason-{answers.pk}", "incorrect")
    page.fill(f"#comment-{answers.pk}", "Refunds are possible within 60 days.")
    results.get_by_role("button", name="Flag this answer").click()
    page.wait_for_load_state()
    assert "the answer is flagged" in page.inner_text("main .messages")
    assert "You flagged it" in page.locator("#sample-results tbody tr").inner_text()
    assert page.input_value("#id_q") == "refund"  # back on the same search
    check_page(page, "power-user-05-flagged")
    flag = Flag.objects.get(sample=answers)
    assert (flag.flagged_by.username, flag.reason) == ("alice", "incorrect")

    nav(page, "My flags")
    row = page.locator("#my-flags tbody tr").first
    assert "Can I get a refund after 30 days?" in row.inner_text() and "Waiting for review" in row.inner_text()
    check_page(page, "power-user-06-my-flags")

    row.get_by_role("link", name="Can I get a refund after 30 days?").click()
    page.wait_for_load_state()
    assert "You flagged this answer as" in page.inner_text("#flag-answer")
    assert page.locator("nav[aria-label=Breadcrumb]").count() == 1
    check_page(page, "power-user-07-sample")
