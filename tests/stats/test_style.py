"""Response style (length and structure) as its own calibrated finding, judged on fresh windows."""

import numpy as np
import pytest
from scipy.stats import binomtest

from drift_app.stats import style

RATE = 0.01


def answers(rng, n, *, words=(20, 80), lists=0.1, code=0.05):
    texts = []
    for _ in range(n):
        body = " ".join(["word"] * int(rng.integers(*words))) + ". Another sentence here."
        if rng.random() < lists:
            body += "\n- first point\n- second point"
        if rng.random() < code:
            body += "\n```python\nprint('hi')\n```"
        texts.append(body)
    return texts


def test_style_features_measure_tokens_sentences_lists_and_code():
    rows = style.style_features(["One. Two! Three?", "- a\n- b\nplain", "```\ncode\n```", ""])
    assert rows[0, 0] == pytest.approx(np.log1p(6)) and rows[0, 1] == 3
    assert rows[1, 2] == pytest.approx(2 / 3)
    assert rows[2, 3] == 1.0
    assert np.all(rows[3] == 0)


def test_fresh_windows_of_the_same_style_keep_the_false_alarm_rate():
    flags = []
    for b in range(5):
        rng = np.random.default_rng(40 + b)
        fitted = style.fit_style(style.style_features(answers(rng, 1500)), false_alarm_rate=RATE, seed=b)
        fresh = style.style_features(answers(rng, 6000))
        for _ in range(200):
            flags.append(style.evaluate_style(fitted, fresh[rng.choice(6000, 160, replace=False)]).shifted)
    k, n = int(np.sum(flags)), len(flags)
    ci = binomtest(k, n, RATE).proportion_ci(confidence_level=0.95)
    print(f"style false alarms: {k / n:.4f} [{ci.low:.4f}, {ci.high:.4f}] over {n} windows")
    assert ci.low <= RATE


def test_much_shorter_answers_are_a_named_style_shift():
    rng = np.random.default_rng(7)
    fitted = style.fit_style(style.style_features(answers(rng, 1500)), false_alarm_rate=RATE)
    report = style.evaluate_style(fitted, style.style_features(answers(rng, 200, words=(3, 10))))
    assert report.shifted and report.direction == "shorter"
    payload = report.to_dict()
    assert payload["finding"] == "response_style_shift"
    assert payload["features"]["tokens"]["window_mean"] < payload["features"]["tokens"]["baseline_mean"]


def test_a_style_baseline_round_trips_through_bytes():
    rng = np.random.default_rng(8)
    fitted = style.fit_style(style.style_features(answers(rng, 600)))
    again = style.StyleBaseline.from_bytes(fitted.to_bytes())
    np.testing.assert_array_equal(again.levels, fitted.levels)
    assert again.level(123) == fitted.level(123)
