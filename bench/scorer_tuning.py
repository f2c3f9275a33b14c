"""How the sentence-alignment pass rule was chosen (not a benchmark of the result: see bench/scorers.py).

Tuning data: bench/data/scorer_tuning.jsonl (and, for long open-ended answers, scorer_tuning_open.jsonl), 18 hand-written help-desk answers (shipping, refunds, cards,
flights, libraries...; none from the demo's golden set nor from ../shared/data), each with a correct
*shorter* paraphrase (its first point only, reworded), a correct *longer* paraphrase (all of it reworded
plus explanation), and a *wrong* answer (a changed number, date or amount, or a negation). Off-topic
answers are the other items' references. For each candidate rule this prints the share of correct
answers that pass and off-topic answers that fail, and the fact scorer's catch rate on the wrong answers
and false alarms on the correct ones. One JSON line. No Django, no database.
"""

from __future__ import annotations

import json

import numpy as np

from _harness import ROOT  # puts the repository on sys.path, so the app imports below resolve

from drift_app import embeddings
from goldenset import scorers


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
        "open_ended": open_ended(context),
        "same_statement_min": same_statement_table(items, answers, kinds, context),
    }, indent=None))


def same_statement_table(items, answers, kinds, context) -> dict:
    """The fact gate at each candidate SAME_STATEMENT_MIN: wrong answers caught, and false alarms on the
    correct short/long rewrites and on the open-ended alternatives (all tuning data)."""
    from drift_app.stats import scoring

    rows = [json.loads(line) for line in (ROOT / "bench/data/scorer_tuning_open.jsonl").read_text().splitlines()
            if line.strip()]
    o_items = [scorers.ScoringItem(prompt="", reference=r["reference"]) for r in rows for _ in (0, 1)]
    o_answers = [r[k] for r in rows for k in ("alternative", "wrong")]
    chosen, table = scoring.SAME_STATEMENT_MIN, {}
    try:
        for thr in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            scoring.SAME_STATEMENT_MIN = thr
            f = [o.status == scorers.FAILED for o in scorers.FactScorer().score_many(items, answers, context)]
            g = [o.status == scorers.FAILED for o in scorers.FactScorer().score_many(o_items, o_answers, context)]
            table[f"{thr:.1f}"] = {
                "wrong_caught": sum(x for x, k in zip(f, kinds) if k == "wrong") + sum(g[1::2]),
                "wrong": kinds.count("wrong") + len(rows),
                "false_alarms": sum(x for x, k in zip(f, kinds) if k in ("short", "long")) + sum(g[0::2]),
                "correct": sum(k in ("short", "long") for k in kinds) + len(rows)}
    finally:
        scoring.SAME_STATEMENT_MIN = chosen
    return table


def open_ended(context) -> dict:
    """Long open-ended items (bench/data/scorer_tuning_open.jsonl, 6 hand-written: tips, an estimate, a
    counterfactual, a list): a correct *alternative* answer gives other examples and other numbers than
    the reference without contradicting it; a *wrong* one changes a stated figure or denies a statement.
    How often the fact gate fails each, and how often the alignment rule passes the alternatives."""
    rows = [json.loads(line) for line in (ROOT / "bench/data/scorer_tuning_open.jsonl").read_text().splitlines()
            if line.strip()]
    items = [scorers.ScoringItem(prompt="", reference=r["reference"]) for r in rows for _ in (0, 1)]
    answers = [r[k] for r in rows for k in ("alternative", "wrong")]
    facts = scorers.FactScorer().score_many(items, answers, context)
    align = scorers.AlignmentScorer().score_many(items, answers, context)
    alt = [i for i in range(len(answers)) if i % 2 == 0]
    wrong = [i for i in range(len(answers)) if i % 2 == 1]
    return {
        "items": len(rows),
        "alternative_facts_false_alarms": sum(facts[i].status == scorers.FAILED for i in alt),
        "alternative_alignment_pass": sum(align[i].status == scorers.PASSED for i in alt),
        "wrong_facts_caught": sum(facts[i].status == scorers.FAILED for i in wrong),
        "false_alarm_reasons": [facts[i].reason[:300] for i in alt if facts[i].status == scorers.FAILED],
        "wrong_missed": [answers[i][:120] for i in wrong if facts[i].status != scorers.FAILED],
    }


if __name__ == "__main__":
    main()
