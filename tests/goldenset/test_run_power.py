"""The run page states the smallest drop the golden set can detect, and how many items the review threshold needs."""

from __future__ import annotations

import pytest

from goldenset import services

pytestmark = pytest.mark.django_db


def test_a_three_item_golden_set_says_it_cannot_detect_the_review_threshold(deployment, golden, personas, client):
    answers = {golden[0].pk: "The Pro plan costs $49 per month.", golden[1].pk: "Access logs are kept for 90 days.",
               golden[2].pk: "Click Forgot password on the sign-in page."}
    run = services.eval_run_create(deployment=deployment, user=personas.erin, answers=answers, queue=False)
    services.eval_run_execute(run=run)
    client.force_login(personas.bob)
    page = client.get(f"/golden/runs/{run.pk}/")
    power = page.context["power"]
    assert power["enough"] is False and power["items_needed"] > 100
    assert f"about {power['items_needed']} items needed" in page.content.decode()
