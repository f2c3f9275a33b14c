"""Scorer benchmark: does a wrong answer fail and a merely reworded one pass? (make bench)

References: the demo's golden set (its ~100 references; its hand-written must-include terms are NOT
used, so the scorers are measured on their own) and the Vicuna-bench answers in ../shared/data
(gpt-3.5 answers as references). Variants are generated here, in bench code only (never in unit-test
fixtures, so no threshold is tuned on them):

(a) contradictions — for each reference, up to two variants that change one sentence: a *number*
    variant (the first number, amount, percentage, duration or date in a sentence changed: n -> 2n+1,
    a month moved by one) and a *negation* variant (a "not" inserted after the first is/are/can/will/
    does/... of a sentence, or removed where the sentence already has one). Share failed (target >= 0.90).
(b) style — the same correct content made much *shorter* (the first sentence(s) only: the first third
    of the sentences, at least one; references of one sentence are skipped) and much *longer* (the
    reference plus three neutral sentences of elaboration from a fixed pool). Share passed (target >= 0.95).
(c) every other Vicuna-bench model's answers scored against gpt-3.5's: pass rate per model, with the
    ordering it gives and its Spearman rank correlation (with n) with a published GPT-4-judged strength
    order of the same models (EXTERNAL_STRENGTH below), so the ordering is measured, not eyeballed.
(d) items scored per second on this machine (sentence split, embedding, alignment, facts; no judge).

Each rate is reported with its 95% Wilson interval and its count, under the default combination rule
(judge-authoritative without a judge: exact or sentence alignment, gated by fact consistency) and,
for comparison on the same variants, under the single-vector cosine rule at 0.80 ("semantic_only").
Prints one JSON line. The data is read in place, never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

from scipy.stats import spearmanr

import django
from _harness import ROOT  # puts the repository on sys.path, so the app imports below resolve
from drift_app import embeddings
from drift_app.stats import scoring
from drift_app.stats.agreement import wilson_interval
from goldenset import scorers

# An external strength order of the Vicuna-bench models, judged by GPT-4, higher is stronger. Bard, Vicuna-13B,
# Alpaca-13B and LLaMA-13B: the Vicuna team's "Vicuna: An Open-Source Chatbot Impressing GPT-4 with 90%* ChatGPT
# Quality" (LMSYS blog, 2023-03-30, Figure 1 "Relative Response Quality Assessed by GPT-4": Bard 93%, Vicuna-13B
# 92%, Alpaca-13B 76%, LLaMA-13B 68% of ChatGPT's score on these 80 questions). Vicuna-7B is not in that figure;
# it is placed by GPT-4-judged MT-bench scores (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
# Chatbot Arena", and the LMSYS leaderboard of 2023-06-22: Vicuna-13B 6.39 > Vicuna-7B 6.00 > Alpaca-13B 4.53
# > LLaMA-13B 2.61). Only the order is used (Spearman), and the two Vicuna-13B answer sets share one rank.
EXTERNAL_STRENGTH = {"bard": 5, "vicuna-13b": 4, "vicuna-13b-20230322-new-hp-fp16": 4,
                     "vicuna-7b-20230322-fp16": 3, "alpaca-13b": 2, "llama-13b": 1}

ELABORATION = [
    "I hope this explanation helps you get started.",
    "Feel free to ask if anything here needs more detail.",
    "Many people find it useful to keep these points in mind when they plan their next steps.",
    "Let me know if you would like a step-by-step walkthrough as well.",
    "Thanks for reaching out with your question.",
]
_AUX = re.compile(r"\b(is|are|was|were|can|will|does|do|did|has|have|should|must|could|would)\b(?!\s+not\b)", re.I)
_NOT = re.compile(r"\s+not\b|n't\b", re.I)
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def load(path: Path) -> dict[int, dict]:
    with open(path, encoding="utf-8") as fh:
        return {r["question_id"]: r for r in map(json.loads, filter(str.strip, fh))}


def _change_number(sentence: str) -> str | None:
    for month in _MONTHS:
        m = re.search(rf"\b{month}\b", sentence)
        if m:
            other = _MONTHS[(_MONTHS.index(month) + 1) % 12]
            return sentence[:m.start()] + other + sentence[m.end():]
    m = re.search(r"(?<![\w.-])(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w.]*\))", sentence)
    if not m or sentence[: m.start()].strip() == "":  # a list marker such as "1." is not a fact
        return None
    value = float(m.group(1).replace(",", ""))
    new = value * 2 + 1
    text = f"{new:.0f}" if new == int(new) else f"{new:g}"
    return sentence[: m.start()] + text + sentence[m.end():]


def _negate(sentence: str) -> str | None:
    if _NOT.search(sentence):
        return _NOT.sub("", sentence, count=1)
    m = _AUX.search(sentence)
    if not m:
        return None
    return sentence[: m.end()] + " not" + sentence[m.end():]


def contradiction_variants(reference: str) -> list[tuple[str, str]]:
    sentences = scoring.split_sentences(reference)
    out: list[tuple[str, str]] = []
    for kind, change in (("number", _change_number), ("negation", _negate)):
        for k, sentence in enumerate(sentences):
            changed = change(sentence)
            if changed and changed != sentence:
                out.append((kind, " ".join(sentences[:k] + [changed] + sentences[k + 1:])))
                break
    return out


def style_variants(reference: str, seed: int) -> list[tuple[str, str]]:
    sentences = scoring.split_sentences(reference)
    out = []
    if len(sentences) >= 2:
        out.append(("shorter", " ".join(sentences[: max(1, len(sentences) // 3)])))
    extra = [ELABORATION[(seed + k) % len(ELABORATION)] for k in range(3)]
    out.append(("longer", " ".join([reference.strip()] + extra)))
    return out


def score(items: list[scorers.ScoringItem], answers: list[str]) -> tuple[list[str], list[str], float]:
    """(default-rule outcomes, semantic-only outcomes, seconds)."""
    context = scorers.ScoringContext(encode=embeddings.encode)
    started = time.perf_counter()
    per_item = scorers.score_all(items, answers, context)
    seconds = time.perf_counter() - started
    default = [scorers.combine(o)[0] for o in per_item]
    semantic = [o["semantic"].status for o in per_item]
    return default, semantic, seconds


def rate(flags: list[bool]) -> dict:
    k, n = int(sum(flags)), len(flags)
    ci = wilson_interval(k, n)
    return {"rate": round(k / n, 4) if n else None, "ci95": [round(ci.low, 4), round(ci.high, 4)], "k": k, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DRIFTDESK_VICUNA_DIR", str(ROOT.parent / "shared/data/vicuna_bench")))
    parser.add_argument("--reference", default="gpt35")
    args = parser.parse_args()
    data = Path(args.data)
    reference = load(data / "answer" / f"answer_{args.reference}.jsonl")
    questions = load(data / "question.jsonl")
    # demo.golden's specs live next to Django code (no database is touched): Django is set up first.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drift_app.settings.test")
    django.setup()
    from demo.golden import _specs

    refs = [("demo", s[1], s[2]) for s in _specs()]
    refs += [("vicuna", questions[q]["text"], reference[q]["text"]) for q in sorted(reference) if q in questions]
    embeddings.encode(["warm-up"])  # model load is not scoring time

    c_items, c_answers, c_meta, s_items, s_answers, s_meta = [], [], [], [], [], []
    for n, (source, prompt, ref) in enumerate(refs):
        item = scorers.ScoringItem(prompt=prompt, reference=ref)
        for kind, text in contradiction_variants(ref):
            c_items.append(item), c_answers.append(text), c_meta.append((source, kind))
        for kind, text in style_variants(ref, n):
            s_items.append(item), s_answers.append(text), s_meta.append((source, kind))
    c_default, c_semantic, c_sec = score(c_items, c_answers)
    s_default, s_semantic, s_sec = score(s_items, s_answers)

    def breakdown(meta, outcomes, wanted):
        keys = sorted(set(meta))
        return {f"{src}/{kind}": rate([o == wanted for m, o in zip(meta, outcomes) if m == (src, kind)])
                for src, kind in keys}

    pass_rate, model_rates, n_scored, seconds = {}, {}, len(c_items) + len(s_items), c_sec + s_sec
    answer_file: dict[str, str] = {}
    for path in sorted((data / "answer").glob("answer_*.jsonl")):
        name = path.stem.removeprefix("answer_")
        if name == args.reference:
            continue
        answers = load(path)
        qids = [q for q in sorted(reference) if q in answers]
        items = [scorers.ScoringItem(prompt=questions[q]["text"], reference=reference[q]["text"]) for q in qids]
        default, semantic, sec = score(items, [answers[q]["text"] for q in qids])
        model_id = next(iter(answers.values()))["model_id"]
        answer_file[model_id] = name  # EXTERNAL_STRENGTH is keyed by the answer file's name
        r = rate([o == scorers.PASSED for o in default])
        pass_rate[model_id] = r["rate"]
        model_rates[model_id] = {**r, "semantic_only": rate([o == scorers.PASSED for o in semantic])["rate"]}
        n_scored += len(qids)
        seconds += sec

    ranked = [m for m in pass_rate if answer_file.get(m) in EXTERNAL_STRENGTH and pass_rate[m] is not None]
    rho = (spearmanr([pass_rate[m] for m in ranked], [EXTERNAL_STRENGTH[answer_file[m]] for m in ranked])
           if len(ranked) > 2 else None)
    contradiction = rate([o == scorers.FAILED for o in c_default])
    style = rate([o == scorers.PASSED for o in s_default])
    print(json.dumps({
        "bench": "scorers", "rule": scorers.DEFAULT_RULE, "alignment_threshold": scoring.DEFAULT_ALIGNMENT_THRESHOLD,
        "contradiction_fail_rate": contradiction["rate"], "contradiction_ci95": contradiction["ci95"],
        "style_pass_rate": style["rate"], "style_ci95": style["ci95"],
        "contradictions": len(c_items), "style_variants": len(s_items),
        "contradiction_breakdown": breakdown(c_meta, c_default, scorers.FAILED),
        "style_breakdown": breakdown(s_meta, s_default, scorers.PASSED),
        "semantic_only": {"contradiction_fail_rate": rate([o == scorers.FAILED for o in c_semantic]),
                          "style_pass_rate": rate([o == scorers.PASSED for o in s_semantic])},
        "pass_rate": pass_rate, "pass_rate_detail": model_rates,
        "ordering": sorted(pass_rate, key=lambda m: -(pass_rate[m] or 0)),
        "ordering_vs_external": {
            "spearman_rho": round(float(rho.statistic), 4) if rho is not None else None,
            "p_value": round(float(rho.pvalue), 4) if rho is not None else None, "n_models": len(ranked),
            "external_order": sorted(EXTERNAL_STRENGTH, key=lambda m: -EXTERNAL_STRENGTH[m]),
            "source": "GPT-4-judged: LMSYS Vicuna blog 2023-03-30 Fig. 1; MT-bench (Zheng et al. 2023) for vicuna-7b"},
        "reference": next(iter(reference.values()))["model_id"],
        "items_per_s": round(n_scored / seconds, 2) if seconds else None, "items_scored": n_scored,
    }))


if __name__ == "__main__":
    main()
