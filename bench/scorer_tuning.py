"""How the sentence-alignment pass rule was chosen (not a benchmark of the result: see bench/scorers.py).

Tuning data: bench/data/scorer_tuning.jsonl, 18 hand-written help-desk answers (shipping, refunds, cards,
flights, libraries...; none from the demo's golden set nor from ../shared/data), each with a correct
*shorter* paraphrase (its first point only, reworded), a correct *longer* paraphrase (all of it reworded
plus explanation), and a *wrong* answer (a changed number, date or amount, or a negation). Off-topic
answers are the other items' references. For each candidate rule this prints the share of correct
answers that pass and off-topic answers that fail, and the fact scorer's catch rate on the wrong answers
and false alarms on the correct ones. One JSON line. No Django, no database.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drift_app import embeddings  # noqa: E402
from goldenset import scorers  # noqa: E402


def main() -> None:
    rows = [json.loads(line) for line in (ROOT / "bench/data/scorer_tuning.jsonl").read_text().splitlines() if line.strip()]
    n = len(rows)
    items, answers, kinds = [], [], []
    for k, row in enumerate(rows):
        item = scorers.ScoringItem(prompt="", reference=row["reference"])
        for kind in ("short", "long", "wrong"):
            items.append(item)
            answers.append(row[kind])
            kinds.append(kind)
        items.append(item)
        answers.append(rows[(k + 1) % n]["reference"])
        kinds.append("off_topic")
        items.append(item)
        answers.append(rows[(k + 5) % n]["short"])
        kinds.append("off_topic")
    context = scorers.ScoringContext(encode=embeddings.encode)
    aligned = scorers.sentence_alignments(items, answers, context)
    cov = np.array([a.alignment.coverage for a in aligned])
    sup = np.array([a.alignment.support for a in aligned])
    kinds_arr = np.array(kinds)
    correct = np.isin(kinds_arr, ["short", "long"])
    off = kinds_arr == "off_topic"
    table = {}
    for thr in np.arange(0.50, 0.91, 0.05):
        passes = np.maximum(cov, sup) >= thr
        table[f"{thr:.2f}"] = {"correct_pass": round(float(passes[correct].mean()), 3),
                               "off_topic_fail": round(float((~passes[off]).mean()), 3)}
    facts = scorers.FactScorer().score_many(items, answers, context)
    failed = np.array([o.status == scorers.FAILED for o in facts])
    print(json.dumps({
        "bench": "scorer_tuning", "items": n,
        "max_cov_sup": {k: {"min": round(float(np.maximum(cov, sup)[kinds_arr == k].min()), 3),
                            "mean": round(float(np.maximum(cov, sup)[kinds_arr == k].mean()), 3),
                            "max": round(float(np.maximum(cov, sup)[kinds_arr == k].max()), 3)}
                        for k in ("short", "long", "wrong", "off_topic")},
        "coverage_mean": {k: round(float(cov[kinds_arr == k].mean()), 3) for k in ("short", "long", "off_topic")},
        "support_mean": {k: round(float(sup[kinds_arr == k].mean()), 3) for k in ("short", "long", "off_topic")},
        "by_threshold": table,
        "facts_fail": {k: round(float(failed[kinds_arr == k].mean()), 3) for k in ("short", "long", "wrong")},
        "facts_false_alarms": [answers[i] + " || " + facts[i].reason for i in range(len(facts))
                               if failed[i] and kinds[i] in ("short", "long")][:6],
        "facts_missed": [answers[i] for i in range(len(facts)) if not failed[i] and kinds[i] == "wrong"],
    }, indent=None))


if __name__ == "__main__":
    main()
