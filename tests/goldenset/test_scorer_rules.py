"""Scorers that tell a wrong answer from a differently worded one, and the combination rule on each run.

The examples are the issue's own (hand-written here); the bench's generated variants live only in
bench/scorers.py, and the alignment threshold was chosen on bench/data/scorer_tuning.jsonl.
"""

from __future__ import annotations

import pytest

from drift_app.embeddings import encode
from goldenset import scorers, services
from goldenset.scorers import FAILED, PASSED, ScoreOutcome, ScoringContext, ScoringItem

from .test_eval_runs import GOOD, configure, run_uploaded


def score(reference: str, answer: str) -> tuple[str, dict]:
    outcomes = scorers.score_all([ScoringItem(prompt="q", reference=reference)], [answer], ScoringContext(encode=encode))[0]
    return scorers.combine(outcomes)[0], outcomes


@pytest.mark.parametrize("reference, wrong, quoted", [
    ("Your data is encrypted at rest with AES-256.", "Your data is not encrypted at rest.", "not encrypted"),
    ("The plan costs $49 per month and annual billing saves 15%.",
     "The plan costs $99 per month and annual billing saves 15%.", "$99"),
    ("Duplicate charges are refunded within 5 business days.", "Duplicate charges are never refunded.", "never"),
    ("The reset link is valid for 1 hour.", "The reset link is valid for 24 hours.", "24 hours"),
])
def test_a_wrong_answer_that_reads_alike_fails_with_the_contradiction_quoted(reference, wrong, quoted):
    status, outcomes = score(reference, wrong)
    assert outcomes["semantic"].status == PASSED  # the single vector is fooled...
    assert status == FAILED and outcomes["facts"].status == FAILED  # ...the fact gate is not
    assert quoted in outcomes["facts"].reason


def test_a_correct_answer_in_another_style_passes():
    reference = ("Access logs are kept for 90 days. You can export them as CSV from the audit log page. "
                 "Admins can also stream them to a SIEM through the webhook integration.")
    short = "We keep access logs for 90 days."
    long = ("We keep access logs for 90 days, after which they are deleted automatically. On the audit log page "
            "you can export them as a CSV file whenever you need a copy. If you are an admin, you can also send "
            "them continuously to your SIEM through the webhook integration. Many teams use this to keep a longer "
            "history in their own systems. The export includes the user, the action and the time of each event.")
    for answer in (short, long):
        status, outcomes = score(reference, answer)
        assert status == PASSED, outcomes["alignment"].reason
    assert score(reference, "Click Forgot password on the sign-in page.")[0] == FAILED


def test_with_a_judge_its_fail_is_a_fail_even_when_alignment_passes():
    outcomes = {"exact": ScoreOutcome(FAILED, "differs"), "alignment": ScoreOutcome(PASSED, "covers 0.95"),
                "semantic": ScoreOutcome(PASSED, "0.93"), "facts": ScoreOutcome(PASSED, "none"),
                "judge": ScoreOutcome(FAILED, "omits the refund window")}
    assert scorers.combine(outcomes) == (FAILED, "judge: omits the refund window")
    assert scorers.combine(outcomes, "any-content")[0] == PASSED  # the old rule: the judge could only raise


def test_the_single_vector_similarity_decides_nothing_under_the_default_rule():
    outcomes = {"exact": ScoreOutcome(FAILED, "differs"), "alignment": ScoreOutcome(FAILED, "covers 0.40"),
                "semantic": ScoreOutcome(PASSED, "0.85")}
    assert scorers.combine(outcomes)[0] == FAILED


def test_an_unknown_rule_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown combination rule 'majority'"):
        scorers.combine({}, "majority")


@pytest.mark.django_db
def test_each_run_stores_its_rule_and_scorer_configuration(deployment, golden):
    run = run_uploaded(deployment, golden, GOOD, "v1")
    assert run.combination_rule == "judge-authoritative"
    assert run.scorer_config["rule"] == "judge-authoritative"
    assert run.scorer_config["scorers"]["facts"] == scorers.get("facts").version
    assert "judge" not in run.scorer_config["scorers"]
    result = run.results.get(item=golden[1])
    assert set(result.scorer_outcomes) >= {"alignment", "facts", "semantic"}


@pytest.mark.django_db
def test_a_run_scored_another_way_is_not_compared_with_the_baseline_and_says_why(deployment, golden):
    baseline = run_uploaded(deployment, golden, GOOD, "v1")
    services.eval_config_update(deployment=deployment, combination_rule="any-content")
    later = run_uploaded(deployment, golden, ["The Pro plan costs $59 per month.", GOOD[1], GOOD[2]], "v3")
    assert baseline.is_baseline and later.baseline_run is None and later.relative_drop_pct is None
    assert "another scorer configuration" in later.comparison_refused and "rule" in later.comparison_refused
    services.eval_config_update(deployment=deployment, combination_rule="judge-authoritative")
    again = run_uploaded(deployment, golden, ["The Pro plan costs $59 per month.", GOOD[1], GOOD[2]], "v4")
    assert again.baseline_run == baseline and again.comparison_refused == ""


@pytest.mark.django_db
def test_a_new_judge_model_starts_a_new_series(deployment, golden, model_server):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    first = run_uploaded(deployment, golden, GOOD, "v1")
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-xl")
    second = run_uploaded(deployment, golden, GOOD, "v2")
    assert first.is_baseline and second.baseline_run is None and "judge_model" in second.comparison_refused


@pytest.mark.django_db
def test_a_judge_fail_fails_an_item_the_alignment_passes(deployment, golden, model_server):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    model_server.judge_reply = '{"verdict": "fail", "score": 0.1, "rationale": "incomplete"}'
    run = run_uploaded(deployment, golden, GOOD, "v1")
    r = run.results.get(item=golden[2])
    assert r.scorer_outcomes["alignment"]["status"] == PASSED and r.outcome == "failed"


@pytest.mark.django_db
def test_an_unknown_combination_rule_is_refused_by_field(deployment):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.eval_config_update(deployment=deployment, combination_rule="majority")
    assert "combination_rule" in exc.value.message_dict


@pytest.mark.django_db
def test_a_quality_drop_queues_a_golden_evaluation_only_when_one_can_run(deployment, golden, model_server):
    degraded = {"degraded": True, "degraded_scores": ["reward"]}
    assert services.eval_on_quality_drop(deployment=deployment, evidence=degraded) is None  # no endpoint
    configure(deployment, model_server)
    assert services.eval_on_quality_drop(deployment=deployment, evidence={"degraded": False}) is None
    run = services.eval_on_quality_drop(deployment=deployment, evidence=degraded)
    assert run is not None and run.trigger == "quality" and run.status == "pending"
    assert services.eval_on_quality_drop(deployment=deployment, evidence=degraded) is None  # one is pending
