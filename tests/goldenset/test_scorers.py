"""The scorer registry: one interface, outcomes stored by name, a new scorer picked up by evaluation runs."""

from __future__ import annotations

import pytest

from goldenset import scorers, services
from goldenset.scorers import FAILED, PASSED, ScoreOutcome, ScoringContext, ScoringItem


class NoBananas(scorers.Scorer):
    """A gate: fails any answer that mentions bananas."""

    name, role, label = "no_bananas", "gate", "No bananas"

    def score_many(self, items, answers, context):
        return [ScoreOutcome(FAILED, "mentions bananas") if "banana" in a.lower() else ScoreOutcome(PASSED, "ok")
                for a in answers]


@pytest.fixture
def no_bananas():
    scorer = scorers.register(NoBananas())
    yield scorer
    scorers.unregister("no_bananas")


def test_every_built_in_scorer_says_why():
    item = ScoringItem(prompt="q", reference="The Pro plan costs $49 per month.", acceptance={"must_include": ["$49"]})
    outcomes = scorers.score_all([item], ["The Pro plan costs $59 per month."],
                                 ScoringContext(encode=None))
    # issue 12 added the sentence-alignment and fact-consistency scorers; the judge only runs when configured
    assert set(outcomes[0]) == {"exact", "acceptance", "semantic", "alignment", "facts"}
    assert outcomes[0]["acceptance"].status == FAILED and "'$49'" in outcomes[0]["acceptance"].reason
    assert outcomes[0]["semantic"].status == "errored"  # no encoder given: errored, never passed
    assert outcomes[0]["alignment"].status == outcomes[0]["facts"].status == "errored"
    assert all(o.reason for o in outcomes[0].values())
    assert scorers.combine(outcomes[0])[0] == "errored"


def test_a_failing_gate_fails_the_item_whatever_the_content_scorers_say():
    outcomes = {"exact": ScoreOutcome(PASSED, "same"), "acceptance": ScoreOutcome(FAILED, "missing '$49'")}
    assert scorers.combine(outcomes) == (FAILED, "acceptance: missing '$49'")
    outcomes["acceptance"] = ScoreOutcome("skipped", "no criteria")
    assert scorers.combine(outcomes)[0] == PASSED


def test_scorer_names_are_unique():
    with pytest.raises(ValueError, match="already registered"):
        scorers.register(scorers.ExactScorer())


@pytest.mark.django_db
def test_a_registered_scorer_is_run_stored_by_name_and_decides(deployment, golden, no_bananas):
    answers = {golden[0].pk: "The Pro plan costs $49 per month.", golden[1].pk: "We keep access logs for 90 days.",
               golden[2].pk: "Click Forgot password on the sign-in page, then eat a banana."}
    run = services.eval_run_execute(run=services.eval_run_create(deployment=deployment, answers=answers, queue=False))
    results = {r.item_id: r for r in run.results.all()}
    assert results[golden[0].pk].scorer_outcomes["no_bananas"]["status"] == PASSED
    assert results[golden[2].pk].scorer_outcomes["no_bananas"] == {
        "status": FAILED, "reason": "mentions bananas", "score": None, "details": {}}
    assert results[golden[2].pk].outcome == "failed"
    assert set(results[golden[0].pk].scorer_outcomes) >= {"exact", "acceptance", "semantic", "no_bananas"}
