"""Golden-set scoring benchmark on the Vicuna bench questions (make bench).

Golden set = the 80 questions with one model's answers (gpt35 by default) as references; every other
model's answers are scored with goldenset.scoring (exact match, semantic similarity at the default
threshold; the data has no acceptance criteria and no judge is called). Prints one JSON line:
{"bench": "golden", "reference": ..., "pass_rate": {model: rate}, "seconds_per_1000": ...}
seconds_per_1000 is the scoring time (embedding + rules) per 1,000 items on this machine.
No Django, no database. The data is read in place, never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _harness import ROOT  # puts the repository on sys.path, so the app imports below resolve

from drift_app import embeddings
from drift_app.stats import scoring


def load(path: Path) -> dict[int, dict]:
    with open(path, encoding="utf-8") as fh:
        return {r["question_id"]: r for r in map(json.loads, filter(str.strip, fh))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DRIFTDESK_VICUNA_DIR", str(ROOT.parent / "shared/data/vicuna_bench")))
    parser.add_argument("--reference", default="gpt35", help="answer_<name>.jsonl used as reference answers")
    parser.add_argument("--threshold", type=float, default=scoring.DEFAULT_SIMILARITY_THRESHOLD)
    args = parser.parse_args()
    data = Path(args.data)
    questions = load(data / "question.jsonl")
    reference = load(data / "answer" / f"answer_{args.reference}.jsonl")
    ref_name = next(iter(reference.values()))["model_id"].split(":")[0]
    ids = sorted(q for q in questions if q in reference)
    ref_texts = [reference[q]["text"] for q in ids]
    embeddings.encode(["warm-up"])  # model load is not scoring time

    pass_rate: dict[str, float] = {}
    scored, seconds = 0, 0.0
    for path in sorted((data / "answer").glob("answer_*.jsonl")):
        name = path.stem.removeprefix("answer_")
        if name == args.reference:
            continue
        answers = load(path)
        qids = [q for q in ids if q in answers]
        texts = [answers[q]["text"] for q in qids]
        refs = [reference[q]["text"] for q in qids]
        started = time.perf_counter()
        vectors = embeddings.encode(texts + refs)
        scores = scoring.score_batch(answers=texts, references=refs, acceptances=[None] * len(qids),
                                     answer_vectors=vectors[: len(qids)], reference_vectors=vectors[len(qids):],
                                     threshold=args.threshold)
        seconds += time.perf_counter() - started
        scored += len(qids)
        model_id = next(iter(answers.values()))["model_id"]
        pass_rate[model_id] = round(sum(s.passed for s in scores) / len(scores), 4) if scores else None
    print(json.dumps({
        "bench": "golden", "reference": ref_name, "threshold": args.threshold, "items": len(ref_texts),
        "pass_rate": pass_rate, "seconds_per_1000": round(seconds / scored * 1000, 3) if scored else None,
    }))


if __name__ == "__main__":
    main()
