"""Verdict benchmark on real third-party data (make bench): is each scenario window's class right?

Golden set: the 80 Vicuna-bench questions with gpt-3.5-turbo's answers as references. The deployed
model's baseline run is vicuna-13b (20230322-clean-lang); every other answer file is a model version
that can serve a window. Items are scored by the golden-set scorer primitives (semantic similarity at
the default threshold, no judge), then compared with the baseline run item by item by the verdicts'
own rules (drift_app.stats.verdict_rules: exact one-sided McNemar test, tolerance, power).

Traffic: CLINC150 queries encoded by the real encoder. The drift baseline is fitted on 7 domains;
windows draw 300 queries from held-out rows of those domains ("in-domain") or with 30% from the 3
domains the baseline never saw ("new domains"), and are judged by the calibrated drift suite
(drift_app.stats: fit_baseline, calibrate, evaluate_window).

Scenarios and their expected class, known from outside the engine:
  same_model_in_domain      vicuna-13b serves, in-domain traffic             → stable
  same_model_new_domains    vicuna-13b serves, 30% new-domain traffic         → benign_change
  weaker_model_*            llama-13b or alpaca-13b serves (both far below vicuna-13b in the
                            Vicuna authors' GPT-4-judged comparison)          → genuine_degradation
  other_model_*             bard, vicuna-7b, vicuna-13b (new-hp): reported, no expected class
No flags exist in this data: the flag source is "missing" in every window. The golden outcomes of a
model version are one evaluation (the data has one answer per question and model), so windows of
the same version differ only in their traffic.

Prints one JSON line: {"bench": "verdicts", "windows", "accuracy", "false_degradation",
"detected_degradation", "by_scenario", "golden": {...}}; rates with 95% Wilson intervals.
The data is read in place (../shared/data), never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from _harness import ROOT  # puts the repository on sys.path, so the app imports below resolve

from drift_app import embeddings
from drift_app.stats import agreement, scoring, verdict_rules
from drift_app.stats.baseline import fit_baseline
from drift_app.stats.suite import calibrate, evaluate_window

BASELINE_MODEL = "vicuna-13b"
REFERENCE = "gpt35"
WEAKER = ("llama-13b", "alpaca-13b")
OTHER = ("bard", "vicuna-7b-20230322-fp16", "vicuna-13b-20230322-new-hp-fp16")
NEW_DOMAINS = ("travel", "utility", "small_talk")
WINDOW = 300
NEW_SHARE = 0.3


STARTED = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {msg}", file=sys.stderr, flush=True)


def load(path: Path) -> dict[int, dict]:
    with open(path, encoding="utf-8") as fh:
        return {r["question_id"]: r for r in map(json.loads, filter(str.strip, fh))}


def golden_outcomes(vicuna: Path, threshold: float) -> dict[str, list[bool]]:
    """Pass/fail per question (sorted ids) for every model, against the reference model's answers."""
    reference = load(vicuna / "answer" / f"answer_{REFERENCE}.jsonl")
    ids = sorted(reference)
    out = {}
    for path in sorted((vicuna / "answer").glob("answer_*.jsonl")):
        name = path.stem.removeprefix("answer_")
        if name == REFERENCE:
            continue
        answers = load(path)
        texts = [answers[q]["text"] if q in answers else "" for q in ids]
        refs = [reference[q]["text"] for q in ids]
        vectors = embeddings.encode(texts + refs)
        scores = scoring.score_batch(answers=texts, references=refs, acceptances=[None] * len(ids),
                                     answer_vectors=vectors[: len(ids)], reference_vectors=vectors[len(ids):],
                                     threshold=threshold)
        out[name] = [s.passed for s in scores]
    return out


def traffic(clinc: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoded CLINC queries: baseline fit rows, held-out in-domain rows, new-domain rows."""
    data = json.loads((clinc / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((clinc / "domains.json").read_text(encoding="utf-8"))
    new_intents = {i for d in NEW_DOMAINS for i in domains[d]}
    rows = [t for split in ("train", "val", "test") for t in data[split]]
    rng = np.random.default_rng(seed)
    known = [t for t, intent in rows if intent not in new_intents]
    new = [t for t, intent in rows if intent in new_intents]
    known = [known[i] for i in rng.permutation(len(known))[:6000]]
    new = [new[i] for i in rng.permutation(len(new))[:1500]]
    vk = embeddings.encode(known)
    vn = embeddings.encode(new)
    return vk[:3000], vk[3000:], vn


def judge(*, base: list[bool], current: list[bool], drifted: bool, review_pct: float, alpha: float) -> tuple[str, dict]:
    """The verdict of one window from its golden comparison and its drift, with the verdicts' rules."""
    cmp = verdict_rules.paired_golden_comparison(base, current, alpha=alpha)
    mdd = verdict_rules.min_detectable_drop_pct(cmp.items, cmp.baseline_rate, alpha=alpha)
    if cmp.relative_drop_pct > review_pct and cmp.significant:
        golden = verdict_rules.DEGRADED
    elif mdd is not None and mdd <= review_pct:
        golden = verdict_rules.OK
    else:
        golden = verdict_rules.MISSING
    result = verdict_rules.classify(golden=golden, flags=verdict_rules.MISSING, prompt_drift=drifted, response_drift=False)
    return result.verdict_class, {"drop_pct": round(cmp.relative_drop_pct, 2), "p_value": cmp.p_value,
                                  "ci_pct": [round(cmp.ci_low_pct, 1), round(cmp.ci_high_pct, 1)],
                                  "min_detectable_drop_pct": None if mdd is None else round(mdd, 1)}


def rate(k: int, n: int) -> dict:
    p = agreement.wilson_interval(k, n)
    return {"windows": n, "count": k, "rate": None if not n else round(k / n, 4),
            "ci95": [round(p.low, 4), round(p.high, 4)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared/data"
    parser.add_argument("--vicuna", default=os.environ.get("DRIFTDESK_VICUNA_DIR", str(shared / "vicuna_bench")))
    parser.add_argument("--clinc", default=os.environ.get("DRIFTDESK_CLINC_DIR", str(shared / "clinc150")))
    parser.add_argument("--review-drop-pct", type=float, default=5.0, help="the deployment's tolerance (default 5)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--same-windows", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    outcomes = golden_outcomes(Path(args.vicuna), scoring.DEFAULT_SIMILARITY_THRESHOLD)
    base = outcomes[BASELINE_MODEL]
    log(f"golden scored: { {m: round(sum(v) / len(v), 3) for m, v in outcomes.items()} }")
    fit_rows, pool, new_pool = traffic(Path(args.clinc), args.seed)
    log(f"traffic encoded: {len(fit_rows)} baseline, {len(pool)} in-domain, {len(new_pool)} new-domain")
    fitted = fit_baseline(fit_rows, seed=args.seed)
    calibration = calibrate(fitted, seed=args.seed)
    log("drift baseline fitted and calibrated")
    rng = np.random.default_rng(args.seed + 1)

    def window_drifted(new_share: float, k: int) -> bool:
        n_new = int(round(WINDOW * new_share))
        rows = pool[rng.integers(0, len(pool), WINDOW - n_new)]
        if n_new:
            rows = np.vstack([rows, new_pool[rng.integers(0, len(new_pool), n_new)]])
        return bool(evaluate_window(fitted, calibration, rows, seed=k).drifted)

    scenarios: list[tuple[str, str, float, str | None, int]] = [
        ("same_model_in_domain", BASELINE_MODEL, 0.0, verdict_rules.STABLE, args.same_windows),
        ("same_model_new_domains", BASELINE_MODEL, NEW_SHARE, verdict_rules.BENIGN_CHANGE, 20),
    ]
    for m in WEAKER:
        scenarios.append((f"weaker_model_{m}_in_domain", m, 0.0, verdict_rules.GENUINE_DEGRADATION, 5))
        scenarios.append((f"weaker_model_{m}_new_domains", m, NEW_SHARE, verdict_rules.GENUINE_DEGRADATION, 5))
    for m in OTHER:
        scenarios.append((f"other_model_{m}", m, 0.0, None, 3))

    by_scenario: dict[str, dict] = {}
    right = scored = 0
    false_deg = no_change = 0
    detected = drops = 0
    k = 0
    for name, model, share, expected, n in scenarios:
        classes: Counter = Counter()
        detail = None
        drifted_windows = 0
        for _ in range(n):
            k += 1
            drifted = window_drifted(share, k)
            drifted_windows += drifted
            cls, detail = judge(base=base, current=outcomes[model], drifted=drifted,
                                review_pct=args.review_drop_pct, alpha=args.alpha)
            classes[cls] += 1
            if k % 10 == 0:
                log(f"{k} windows judged")
            if expected is None:
                continue
            scored += 1
            right += cls == expected
            if model == BASELINE_MODEL:
                no_change += 1
                false_deg += cls == verdict_rules.GENUINE_DEGRADATION
            else:
                drops += 1
                detected += cls == verdict_rules.GENUINE_DEGRADATION
        by_scenario[name] = {
            "model_version": model, "new_domain_share": share, "expected": expected, "windows": n,
            "classes": dict(classes), "right": None if expected is None else classes[expected], "golden": detail,
            "drifted_windows": drifted_windows,
        }
    base_rate = sum(base) / len(base)
    print(json.dumps({
        "bench": "verdicts", "windows": k, "scored_windows": scored,
        "accuracy": rate(right, scored),
        "false_degradation": rate(false_deg, no_change),
        "detected_degradation": rate(detected, drops),
        "by_scenario": by_scenario,
        "golden": {
            "items": len(base), "reference": REFERENCE, "baseline_model": BASELINE_MODEL,
            "baseline_pass_rate": round(base_rate, 4),
            "pass_rates": {m: round(sum(v) / len(v), 4) for m, v in sorted(outcomes.items())},
            "min_detectable_drop_pct": verdict_rules.min_detectable_drop_pct(len(base), base_rate, alpha=args.alpha),
            "items_needed_for_review_threshold": verdict_rules.items_needed(base_rate, args.review_drop_pct, alpha=args.alpha),
        },
        "review_drop_pct": args.review_drop_pct, "alpha": args.alpha, "window_size": WINDOW, "seed": args.seed,
    }))


if __name__ == "__main__":
    main()
