"""PII detection and the scorers: pure functions, no database."""

from __future__ import annotations

import numpy as np
import pytest

from drift_app.stats import scoring
from goldenset.pii import find_pii


def kinds(text):
    return [(f.kind, f.text) for f in find_pii(text)]


def test_it_finds_an_email_address():
    assert kinds("write to jane.doe@example.com today") == [("email", "jane.doe@example.com")]


def test_it_finds_a_card_number_only_when_the_luhn_check_passes():
    assert kinds("card 4111 1111 1111 1111 ok") == [("card", "4111 1111 1111 1111")]
    assert not [k for k, _ in kinds("order 4111 1111 1111 1112")] == ["card"]


def test_it_finds_an_iban_only_when_mod_97_holds():
    assert kinds("pay to DE89 3704 0044 0532 0130 00 please")[0] == ("iban", "DE89 3704 0044 0532 0130 00")
    assert not any(k == "iban" for k, _ in kinds("pay to DE00 3704 0044 0532 0130 00 please"))


def test_it_finds_phone_numbers_but_not_prices_or_dates():
    assert kinds("call +44 20 7946 0958 now") == [("phone", "+44 20 7946 0958")]
    assert kinds("The Pro plan costs $49 per month since 2024-06-01.") == []


def test_normalised_exact_match_ignores_case_punctuation_and_spacing():
    assert scoring.exact_match("The  Pro plan costs $49 per month!", "the pro plan costs $49 per month.")
    assert not scoring.exact_match("The Pro plan costs $59 per month.", "The Pro plan costs $49 per month.")
    assert scoring.normalise("Costs 4.5 GB.") == "costs 4.5 gb"


def test_acceptance_criteria_check_required_and_forbidden_terms_and_the_regex():
    acc = {"must_include": ["$49"], "must_not_include": ["discount"], "regex": r"per\s+month"}
    assert scoring.check_acceptance("It is $49 per month.", acc) == (True, [])
    ok, problems = scoring.check_acceptance("It is $59 per month with a discount.", acc)
    assert ok is False and len(problems) == 2
    ok, problems = scoring.check_acceptance("It is $49 a month.", acc)
    assert ok is False and "pattern" in problems[0]
    assert scoring.check_acceptance("anything", None) == (None, [])


def test_invalid_acceptance_criteria_are_reported_by_field():
    problems = scoring.validate_acceptance({"must_include": "x", "regex": "(", "colour": 1})
    fields = {f for f, _ in problems}
    assert fields == {"acceptance.must_include", "acceptance.regex", "acceptance.colour"}


def test_semantic_similarity_passes_a_paraphrase_and_fails_an_unrelated_answer():
    from drift_app.embeddings import encode

    ref = "Access logs are kept for 90 days and can be exported from the audit log."
    para = "We retain access logs for 90 days; you can export them from the audit log."
    other = "Click Forgot password on the sign-in page."
    v = encode([ref, para, other])
    sims = scoring.cosine_rows(v[[1, 2]], v[[0, 0]])
    assert sims[0] >= scoring.DEFAULT_SIMILARITY_THRESHOLD > sims[1]


def test_the_pass_rule_needs_acceptance_and_then_exact_or_similar_or_judge():
    ref = "The Pro plan costs $49 per month."
    acc = {"must_include": ["$49"]}
    assert scoring.decide(answer=ref, reference=ref, acceptance=acc, similarity=0.1, threshold=0.8).passed
    similar_but_wrong = scoring.decide(answer="The Pro plan costs $59 per month.", reference=ref, acceptance=acc,
                                       similarity=0.97, threshold=0.8)
    assert not similar_but_wrong.passed and similar_but_wrong.acceptance_ok is False
    assert scoring.decide(answer="$49 monthly", reference=ref, acceptance=acc, similarity=0.85, threshold=0.8).passed
    assert not scoring.decide(answer="$49 monthly", reference=ref, acceptance=acc, similarity=0.5, threshold=0.8).passed
    judged = scoring.decide(answer="$49 monthly", reference=ref, acceptance=acc, similarity=0.5, threshold=0.8,
                            judge=scoring.JudgeVerdict(True, 0.9, "same"))
    assert judged.passed and judged.score == 0.9


@pytest.mark.parametrize("reply", ["sure!", '{"verdict": "maybe"}', '{"verdict": "pass", "score": 7}', "[]"])
def test_a_malformed_judge_reply_is_rejected(reply):
    with pytest.raises(scoring.JudgeReplyMalformed):
        scoring.parse_judge_reply(reply)


def test_a_judge_reply_in_a_json_fence_is_accepted():
    v = scoring.parse_judge_reply('```json\n{"verdict": "fail", "score": 0.2, "rationale": "wrong price"}\n```')
    assert v == scoring.JudgeVerdict(False, 0.2, "wrong price")


def test_relative_drop_is_a_percentage_of_the_baseline():
    assert scoring.pass_rate_drop_pct(0.9, 0.72) == 20.0
    assert scoring.pass_rate_drop_pct(0.0, 0.5) is None


def test_leader_clustering_groups_close_vectors():
    from drift_app.stats.clustering import leader_clusters

    a = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.995]], dtype=np.float32)
    labels = leader_clusters(a, threshold=0.9)
    assert labels[0] == labels[1] != labels[2] == labels[3]
