"""The promised false-alarm rate on real text: CLINC150 prompts embedded with the shipped model.

Every judged window is fresh (rows of no baseline's fit, pool or calibration), 100 baselines of 10
windows each (alarms cluster by baseline: a production reference is one fixed sample of its
baseline). The binomial 95% interval must contain the nominal rate or lie below it; out-of-scope
traffic must still be found. The data is read in place from ../shared/data (never copied).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from drift_app import embeddings, stats
from tests.unavailable import outside_the_project

from .helpers import assert_false_alarms_at_most

ROOT = Path(__file__).resolve().parents[2]
CLINC = Path(os.environ.get("DRIFTDESK_CLINC_DIR", ROOT.parent / "shared" / "data" / "clinc150")) / "data_full.json"
RATE = 0.01
N_BASELINES, WINDOWS_PER_BASELINE = 100, 10
BASELINE, WINDOW = 1200, 200
IN_SCOPE, OUT_OF_SCOPE = 3000, 300
ORACLE_WINDOWS, SHIFTED_WINDOWS = 20, 5


@pytest.fixture(scope="module")
def clinc_vectors():
    if not CLINC.exists():
        # Third-party data, never copied into the repository: CI runs with ../shared beside the clone.
        outside_the_project(f"CLINC150 is not at {CLINC} (../shared/data beside the clone)")
    data = json.loads(CLINC.read_text())
    rows = data["train"]
    in_scope = [text for text, _ in rows[:: max(1, len(rows) // IN_SCOPE)]][:IN_SCOPE]
    oos = [text for text, _ in data["oos_train"] + data["oos_val"] + data["oos_test"]][:OUT_OF_SCOPE]
    vectors = embeddings.encode(in_scope + oos)
    return vectors[:IN_SCOPE], vectors[IN_SCOPE:]


@pytest.fixture(scope="module")
def clinc_runs(clinc_vectors):
    """Per baseline: fresh null windows, other fresh null windows for the oracle, 10% out-of-scope windows."""
    in_scope, oos = clinc_vectors
    table = np.concatenate([in_scope, oos])
    oos_rows = np.arange(IN_SCOPE, IN_SCOPE + OUT_OF_SCOPE)
    k = WINDOW // 10  # 10% out-of-scope
    null_flags, oracle_null, detected = [], [], []
    for b in range(N_BASELINES):
        rng = np.random.default_rng(7000 + b)
        order = rng.permutation(IN_SCOPE)
        base, rest = order[:BASELINE], order[BASELINE:]
        fitted = stats.fit_baseline(table[base], seed=b)
        calibration = stats.calibrate(fitted, false_alarm_rate=RATE, seed=b)

        def windows(count, shifted=False):
            return np.stack([
                np.concatenate([rng.choice(rest, WINDOW - k, replace=False), rng.choice(oos_rows, k, replace=False)])
                if shifted else rng.choice(rest, WINDOW, replace=False)
                for _ in range(count)
            ])

        null_flags.append(stats.evaluate_windows(fitted, calibration, table, windows(WINDOWS_PER_BASELINE)).combined_drifted)
        oracle_null.append(stats.evaluate_windows(fitted, calibration, table, windows(ORACLE_WINDOWS), seed=1).combined)
        detected.append(stats.evaluate_windows(fitted, calibration, table, windows(SHIFTED_WINDOWS, True), seed=2))
    return np.concatenate(null_flags), np.concatenate(oracle_null), detected


def test_the_false_alarm_rate_on_1000_fresh_clinc_windows_is_at_most_nominal(clinc_runs):
    null_flags, _, _ = clinc_runs
    assert_false_alarms_at_most(null_flags, RATE, "CLINC150")


def test_out_of_scope_detection_reaches_ninety_percent_of_a_threshold_set_on_fresh_null_windows(clinc_runs):
    """The oracle: one level for every baseline, the conformal 1% level of the combined statistic over
    other fresh null windows of all baselines (what a perfect calibration of the rule would set)."""
    _, oracle_null, detected = clinc_runs
    values = np.sort(oracle_null)
    level = values[int(np.ceil((values.size + 1) * (1 - RATE))) - 1]
    ours = np.concatenate([d.combined_drifted for d in detected])
    oracle = np.concatenate([d.combined > level for d in detected])
    print(f"CLINC150 10% out-of-scope in windows of {WINDOW}: ours {ours.mean():.3f}, oracle {oracle.mean():.3f}")
    assert oracle.mean() > 0.2, "the shift is too small to compare detection"
    assert ours.mean() >= 0.9 * oracle.mean()
