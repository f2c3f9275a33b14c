"""Golden-set scorers: pure functions on strings and numpy vectors (no Django, no Celery).

Scorers (see goldenset/README.md):

* **exact** – the answer equals the reference after normalisation: Unicode NFKC, case-folded,
  punctuation removed, whitespace collapsed.
* **acceptance** – optional per-item criteria: every `must_include` term appears (normalised
  substring), no `must_not_include` term appears, and `regex` (Python syntax, case-insensitive)
  matches somewhere in the answer.
* **semantic** – cosine similarity of the answer's and the reference's embeddings
  (all-MiniLM-L6-v2, L2-normalised). Default threshold 0.80: on that encoder paraphrases of the
  same statement score about 0.8-0.95, while answers on the same topic that say something else
  sit around 0.5-0.7. Configurable per deployment (`EvalConfig.similarity_threshold`).
* **judge** (optional) – an LLM grades the answer against the reference with a fixed rubric and
  returns JSON `{"verdict": "pass"|"fail", "score": 0..1, "rationale": "..."}`; the judge's
  model and JUDGE_PROMPT_VERSION are stored with every score.

Pass/fail rule per item: if acceptance criteria exist they must hold (a wrong price fails even
when the sentence is otherwise similar — embeddings hardly see numbers). Then the item passes if
the answer is an exact match, OR its similarity >= threshold, OR (judge enabled) the judge says
pass. An item whose answer could not be obtained, or whose judge reply was malformed, is
*errored*: never passed, never failed, and left out of the pass rate.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

DEFAULT_SIMILARITY_THRESHOLD = 0.80
JUDGE_PROMPT_VERSION = "rubric-v1"
MAX_REGEX_CHARS = 500
ACCEPTANCE_KEYS = {"must_include", "must_not_include", "regex"}

_PUNCT = re.compile(r"[^\w\s$%€£.]|(?<!\d)\.|\.(?!\d)")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation dropped (decimal points and currency signs kept), spaces collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def exact_match(answer: str, reference: str) -> bool:
    return normalise(answer) == normalise(reference) and bool(normalise(reference))


def validate_acceptance(acceptance) -> list[tuple[str, str]]:
    """Problems with an acceptance-criteria object as (field, problem); empty when valid."""
    if acceptance in (None, {}):
        return []
    if not isinstance(acceptance, dict):
        return [("acceptance", f"must be an object, got {type(acceptance).__name__}")]
    problems = []
    unknown = set(acceptance) - ACCEPTANCE_KEYS
    if unknown:
        problems.append((f"acceptance.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(ACCEPTANCE_KEYS))}"))
    for key in ("must_include", "must_not_include"):
        terms = acceptance.get(key, [])
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            problems.append((f"acceptance.{key}", "must be a list of non-empty strings"))
    regex = acceptance.get("regex")
    if regex not in (None, ""):
        if not isinstance(regex, str):
            problems.append(("acceptance.regex", "must be a string"))
        elif len(regex) > MAX_REGEX_CHARS:
            problems.append(("acceptance.regex", f"is {len(regex)} characters; the limit is {MAX_REGEX_CHARS}"))
        else:
            try:
                re.compile(regex)
            except re.error as exc:
                problems.append(("acceptance.regex", f"is not a valid regular expression: {exc}"))
    return problems


def clean_acceptance(acceptance: dict | None) -> dict:
    """Canonical form: only non-empty keys, terms stripped, so equal criteria hash equally."""
    if not acceptance:
        return {}
    out: dict = {}
    for key in ("must_include", "must_not_include"):
        terms = [t.strip() for t in acceptance.get(key) or [] if t.strip()]
        if terms:
            out[key] = terms
    if acceptance.get("regex"):
        out["regex"] = acceptance["regex"]
    return out


def check_acceptance(answer: str, acceptance: dict | None) -> tuple[bool | None, list[str]]:
    """(ok, problems). ok is None when the item has no criteria."""
    acceptance = clean_acceptance(acceptance)
    if not acceptance:
        return None, []
    norm = normalise(answer)
    problems = []
    for term in acceptance.get("must_include", []):
        if normalise(term) not in norm:
            problems.append(f"missing required term {term!r}")
    for term in acceptance.get("must_not_include", []):
        if normalise(term) in norm:
            problems.append(f"contains forbidden term {term!r}")
    regex = acceptance.get("regex")
    if regex and not re.search(regex, answer or "", flags=re.IGNORECASE):
        problems.append(f"does not match the pattern {regex!r}")
    return not problems, problems


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, d) arrays of L2-normalised vectors."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0)


@dataclass(frozen=True)
class JudgeVerdict:
    passed: bool
    score: float
    rationale: str


class JudgeReplyMalformed(ValueError):
    pass


JUDGE_SYSTEM_PROMPT = (
    "You grade a support assistant's answer against a reference answer written by a subject-matter "
    "expert. Rubric: the answer passes when it states the same facts as the reference (numbers, names, "
    "limits, steps), contradicts none of them and adds nothing false; wording, tone and length do not "
    "matter. Reply with one JSON object and nothing else: "
    '{"verdict": "pass" or "fail", "score": a number from 0 to 1, "rationale": one sentence}.'
)


def judge_messages(*, prompt: str, reference: str, answer: str) -> list[dict]:
    user = f"Question:\n{prompt}\n\nReference answer:\n{reference}\n\nAnswer to grade:\n{answer}"
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_judge_reply(text: str) -> JudgeVerdict:
    """Parse the judge's JSON (a ```json fence is tolerated); anything else raises JudgeReplyMalformed."""
    body = (text or "").strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    if fence:
        body = fence.group(1)
    try:
        data = json.loads(body)
    except ValueError:
        raise JudgeReplyMalformed(f"judge reply is not JSON: {body[:80]!r}") from None
    if not isinstance(data, dict) or data.get("verdict") not in ("pass", "fail"):
        raise JudgeReplyMalformed("judge reply lacks verdict 'pass' or 'fail'")
    score = data.get("score", 1.0 if data["verdict"] == "pass" else 0.0)
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0 <= score <= 1:
        raise JudgeReplyMalformed("judge score must be a number from 0 to 1")
    return JudgeVerdict(data["verdict"] == "pass", float(score), str(data.get("rationale", ""))[:1000])


@dataclass(frozen=True)
class ItemScore:
    passed: bool
    score: float
    exact: bool
    similarity: float
    acceptance_ok: bool | None
    acceptance_problems: list[str] = field(default_factory=list)
    judge: JudgeVerdict | None = None


def decide(
    *, answer: str, reference: str, acceptance: dict | None, similarity: float, threshold: float,
    judge: JudgeVerdict | None = None,
) -> ItemScore:
    """Apply the pass/fail rule documented in the module docstring to one item."""
    exact = exact_match(answer, reference)
    acc_ok, acc_problems = check_acceptance(answer, acceptance)
    similarity = 1.0 if exact else float(similarity)
    content_ok = exact or similarity >= threshold or (judge is not None and judge.passed)
    passed = content_ok and acc_ok is not False
    score = judge.score if judge is not None else similarity
    return ItemScore(passed, round(float(score), 4), exact, round(similarity, 4), acc_ok, acc_problems, judge)


def score_batch(
    *, answers: list[str], references: list[str], acceptances: list[dict | None],
    answer_vectors: np.ndarray, reference_vectors: np.ndarray, threshold: float,
) -> list[ItemScore]:
    """Score many items without a judge, given the embeddings of answers and references."""
    sims = cosine_rows(answer_vectors, reference_vectors)
    return [
        decide(answer=a, reference=r, acceptance=acc, similarity=float(s), threshold=threshold)
        for a, r, acc, s in zip(answers, references, acceptances, sims)
    ]


def pass_rate_drop_pct(baseline_rate: float | None, rate: float | None) -> float | None:
    """(baseline - now) / baseline in percent; None when either is unknown or the baseline is 0."""
    if baseline_rate is None or rate is None or baseline_rate <= 0:
        return None
    return round((baseline_rate - rate) / baseline_rate * 100.0, 2)
