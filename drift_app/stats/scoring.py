"""Golden-set scorers: pure functions on strings and numpy vectors (no Django, no Celery).

Scorers (see goldenset/README.md):

* **exact** – the answer equals the reference after normalisation: Unicode NFKC, case-folded,
  punctuation removed, whitespace collapsed.
* **acceptance** – optional per-item criteria: every `must_include` term appears (normalised
  substring), no `must_not_include` term appears, and `regex` (RE2 syntax, case-insensitive)
  matches somewhere in the answer. RE2 (google-re2) runs in time linear in the answer: no pattern
  can make a check run for minutes (no backreferences or lookarounds, which RE2 refuses).
* **semantic** – cosine similarity of the answer's and the reference's embeddings
  (all-MiniLM-L6-v2, L2-normalised). Default threshold 0.80: on that encoder paraphrases of the
  same statement score about 0.8-0.95, while answers on the same topic that say something else
  sit around 0.5-0.7. Configurable per deployment (`EvalConfig.similarity_threshold`).
* **judge** (optional) – an LLM grades the answer against the reference with a fixed rubric and
  returns JSON `{"verdict": "pass"|"fail", "score": 0..1, "rationale": "..."}`; the judge's
  model and JUDGE_PROMPT_VERSION are stored with every score.

Further primitives (issue 12): ``split_sentences``, ``align_sentences`` (coverage and support),
``alignment_passes``, ``extract_facts`` and ``fact_contradictions`` (numbers with units and currencies,
percentages, durations, dates, times, polarity, names). How goldenset/scorers.py combines the scorers'
outcomes is a named rule stored on each run (see goldenset/README.md). ``decide``/``score_batch`` below
implement the rule before issue 12 (exact OR similarity OR judge, gated by acceptance) and are kept for
the old bench (bench/golden.py). An item whose answer could not be obtained, or whose judge reply was
malformed, is *errored*: never passed, never failed, and left out of the pass rate.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import re2

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
                _compile_acceptance_regex(regex)
            except re2.error as exc:
                problems.append(("acceptance.regex", f"is not a valid RE2 regular expression (no backreferences "
                                                     f"or lookarounds): {exc}"))
    return problems


def _compile_acceptance_regex(regex: str):
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 8 << 20  # a pattern that needs more than 8 MiB of automaton is refused, not run
    return re2.compile(regex, options)


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
    if regex and not _compile_acceptance_regex(regex).search(answer or ""):
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


# --- sentence alignment: content coverage and support ---------------------------------------------
#
# One vector for a whole answer mixes style and content: a correct answer in a much shorter or much
# longer form moves it as far as a wrong one. Aligning sentence by sentence (greedy max-cosine, the
# sentence-level analogue of BERTScore's token matching) separates the two: a shorter answer keeps
# high *support* (each of its sentences is backed by the reference) while its *coverage* drops; a
# longer one keeps high coverage while its support drops; a wrong or off-topic answer loses both.

# Decided from bench/scorer_tuning.py on hand-written tuning data (not the bench's variants): the
# larger of coverage and support was >= 0.68 for all 36 correct shorter/longer paraphrases and <= 0.42
# for all 36 off-topic answers; 0.55 is the middle of that gap (see goldenset/README.md).
DEFAULT_ALIGNMENT_THRESHOLD = 0.55
# An answer sentence and a reference sentence are taken to talk about the same thing (so their facts
# and polarity are compared) when their cosine reaches this.
FACT_ALIGNMENT_MIN = 0.55
NEGATION_ALIGNMENT_MIN = 0.70

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[`]?[A-Z0-9$€£])|\n+\s*(?:[-*•]\s+|\d+[.)]\s+)?|\n{2,}")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "Mr.", "Mrs.", "Dr.", "St.", "No.")


_LIST_MARKER = re.compile(r"^\(?\d{1,2}[.)](?:\s+|$)")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: split after . ! ? ; before a capital/digit, and at line breaks (lists).

    An enumeration marker ("3." or "3)" opening a list item) is dropped: it numbers the item, it states
    no fact, and left alone "3." would become a sentence of its own that aligns with any other number.
    """
    parts = [p.strip() for p in _SENTENCE_END.split(text or "") if p and p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and merged[-1].endswith(_ABBREVIATIONS):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    out = [_LIST_MARKER.sub("", m).strip() for m in merged]
    return [m for m in out if any(ch.isalnum() for ch in m)]


@dataclass(frozen=True)
class Alignment:
    """Greedy max-cosine alignment of answer and reference sentences.

    coverage: mean over reference sentences of the best cosine to any answer sentence (how much of
    the reference the answer says); support: mean over answer sentences of the best cosine to any
    reference sentence (how much of the answer the reference backs). *_best[i] is the index of the
    best partner of sentence i, *_sims[i] its cosine.
    """

    coverage: float
    support: float
    reference_best: tuple[int, ...]
    reference_sims: tuple[float, ...]
    answer_best: tuple[int, ...]
    answer_sims: tuple[float, ...]
    # similarities[i][j]: cosine of reference sentence i and answer sentence j (empty when not kept)
    similarities: tuple[tuple[float, ...], ...] = ()

    @property
    def f1(self) -> float:
        c, s = self.coverage, self.support
        return 0.0 if c + s <= 0 else 2 * c * s / (c + s)


def align_sentences(reference_vectors: np.ndarray, answer_vectors: np.ndarray) -> Alignment:
    """Alignment of (m, d) reference and (n, d) answer sentence vectors (L2-normalised)."""
    if len(reference_vectors) == 0 or len(answer_vectors) == 0:
        return Alignment(0.0, 0.0, (), (), (), ())
    sims = np.clip(np.asarray(reference_vectors) @ np.asarray(answer_vectors).T, -1.0, 1.0)
    ref_best, ans_best = sims.argmax(axis=1), sims.argmax(axis=0)
    ref_sims, ans_sims = sims.max(axis=1), sims.max(axis=0)
    return Alignment(
        round(float(ref_sims.mean()), 4), round(float(ans_sims.mean()), 4),
        tuple(int(i) for i in ref_best), tuple(round(float(s), 4) for s in ref_sims),
        tuple(int(i) for i in ans_best), tuple(round(float(s), 4) for s in ans_sims),
        tuple(tuple(round(float(x), 4) for x in row) for row in sims),
    )


def alignment_passes(alignment: Alignment, threshold: float = DEFAULT_ALIGNMENT_THRESHOLD) -> bool:
    """The content rule: the answer carries the reference's content when either its coverage or its
    support reaches the threshold. Either, not both: a correct short answer has high support and low
    coverage, a correct long one the reverse; an answer about something else has both low."""
    return max(alignment.coverage, alignment.support) >= threshold


# --- fact consistency ------------------------------------------------------------------------------

_WORD_NUMBERS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                 "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100,
                 "a": 1, "an": 1, "single": 1}
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WNUM = r"(?:" + "|".join(sorted((k for k in _WORD_NUMBERS if k not in ("a", "an")), key=len, reverse=True)) + r")"
_DURATION_UNITS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "hr": 3600, "day": 86400,
                   "business day": 86400 * 7 / 5, "working day": 86400 * 7 / 5, "week": 604800,
                   "month": 2629800, "year": 31557600}
_DUR_UNIT = r"(?P<unit>business days?|working days?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\b"
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "usd": "USD", "eur": "EUR", "gbp": "GBP",
                   "dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR", "pounds": "GBP"}
_MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                           "august", "september", "october", "november", "december"))}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"

_RE_MONEY = re.compile(rf"(?P<sign>[$€£])\s?(?P<num>{_NUM})(?P<mult>\s?(?:k|m|bn|million|billion|thousand)\b)?"
                       rf"|(?P<num2>{_NUM})\s?(?P<code>usd|eur|gbp|dollars?|euros?|pounds)\b", re.IGNORECASE)
_RE_PERCENT = re.compile(rf"(?P<num>{_NUM})\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_RE_DURATION = re.compile(rf"(?<![\w.,])(?P<num>half an?|half|{_NUM}|{_WNUM}|an?)[\s-]+{_DUR_UNIT}", re.IGNORECASE)
_RE_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?\b")
_RE_TEXT_DATE = re.compile(rf"\b(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}|{_MONTH.replace('month', 'month2')}\s+"
                           rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b)(?:,?\s+(?P<y>\d{{4}}))?", re.IGNORECASE)
_RE_TIME = re.compile(r"\b(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s?(?P<ampm>am|pm|a\.m\.|p\.m\.)", re.IGNORECASE)
_RE_NUMBER = re.compile(rf"(?<![\w.-])(?P<num>{_NUM})(?:\s+(?P<unit>[a-z][a-z-]{{1,20}}))?", re.IGNORECASE)
_RE_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without)\b|n't\b", re.IGNORECASE)
_RE_ENTITY = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][a-zA-Z0-9&.-]*[A-Za-z0-9](?:\s+[A-Z][a-zA-Z0-9&-]*)*")
# Words that only start a phrase or shout: not names of things.
_NOT_ENTITIES = {"I", "The", "A", "An", "It", "This", "That", "Yes", "No", "If", "You", "We", "Our", "Your",
                 "Please", "Note", "However", "Also", "Then", "For", "In", "On", "Open", "Click", "Use", "And",
                 "Or", "But", "To", "When", "With", "OK"}


@dataclass(frozen=True)
class Fact:
    kind: str        # money, percent, duration, date, quantity
    key: str         # what must match for two facts to be comparable (currency, unit, "")
    value: float | str
    text: str        # the words it came from, quoted in a contradiction
    start: int = -1  # where those words start in the sentence


def _to_float(raw: str) -> float:
    raw = raw.lower()
    if raw.startswith("half"):  # "half an hour" is 30 minutes, not an hour
        return 0.5
    if raw in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[raw])
    return float(raw.replace(",", ""))


def _duration_unit(unit: str) -> tuple[str, float]:
    unit = unit.lower()
    for name, seconds in _DURATION_UNITS.items():
        if unit.rstrip("s") == name or unit == name or unit.rstrip("s") == name.rstrip("s"):
            return name, seconds
    return unit, 1.0  # pragma: no cover - the regex only lets the units above through


def extract_facts(sentence: str) -> list[Fact]:
    """Numbers with their units and currencies, percentages, durations and dates in one sentence."""
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in taken)

    for m in _RE_MONEY.finditer(sentence):
        if m.group("sign"):
            value, currency = _to_float(m.group("num")), _CURRENCY_SIGNS[m.group("sign")]
            mult = (m.group("mult") or "").strip().lower()
            value *= {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}.get(mult, 1)
        else:
            value, currency = _to_float(m.group("num2")), _CURRENCY_SIGNS[m.group("code").lower()]
        facts.append(Fact("money", currency, value, m.group(0).strip(), m.start()))
        taken.append(m.span())
    for m in _RE_PERCENT.finditer(sentence):
        if free(m):
            facts.append(Fact("percent", "", _to_float(m.group("num")), m.group(0), m.start()))
            taken.append(m.span())
    for m in _RE_ISO_DATE.finditer(sentence):
        if free(m):
            facts.append(Fact("date", "", m.group(0), m.group(0), m.start()))
            taken.append(m.span())
    for m in _RE_TEXT_DATE.finditer(sentence):
        if free(m):
            month = _MONTHS[(m.group("month") or m.group("month2")).lower()]
            day = int(m.group("d1") or m.group("d2"))
            facts.append(Fact("date", "", f"{m.group('y') or ''}-{month:02d}-{day:02d}", m.group(0), m.start()))
            taken.append(m.span())
    for m in _RE_TIME.finditer(sentence):
        if free(m):
            hour = int(m.group("h")) % 12 + (12 if m.group("ampm").lower().startswith("p") else 0)
            facts.append(Fact("time", "", f"{hour:02d}:{m.group('m') or '00'}", m.group(0), m.start()))
            taken.append(m.span())
    for m in _RE_DURATION.finditer(sentence):
        if free(m):
            _, seconds = _duration_unit(m.group("unit"))
            facts.append(Fact("duration", "", round(_to_float(m.group("num")) * seconds, 3), m.group(0), m.start()))
            taken.append(m.span())
    for m in _RE_NUMBER.finditer(sentence):
        if free(m):
            unit = (m.group("unit") or "").lower().rstrip("s")
            facts.append(Fact("quantity", unit, _to_float(m.group("num")), m.group(0), m.start()))
            taken.append(m.span())
    return facts


_STOPWORDS = frozenset(
    "a an the and or but if then of to in on at by for with from as is are was were be been being it its this that "
    "these those you your we our they their he she his her i my me us them can could will would should may might "
    "must do does did has have had there here what which who whom when where how so than too very just also any all "
    "each every some such only own same about into over after before up down out off again once".split())


def _stems(sentence: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", sentence.casefold())
    return {w[:4] for w in words if w not in _STOPWORDS and not _RE_NEGATION.fullmatch(w) and w not in ("t", "cannot")}


def _overlap(a: str, b: str) -> float:
    sa, sb = _stems(a), _stems(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


# Not at a comma inside a number ("13,017,543"): half a number would make a clause of its own.
_CLAUSE = re.compile(r"(?:,(?!\d{3}\b)|[;:—()])\s*|\s+(?:but|or|and|unless|although|while|whereas)\s+", re.IGNORECASE)


def polarity_flips(reference_sentence: str, answer_sentence: str) -> list[tuple[str, str]]:
    """Clause pairs (reference, answer) that say nearly the same words with opposite polarity.

    Clauses, not whole sentences: "Standard pays $4.99, or nothing over $50" holds a negation in a clause
    that the answer "Standard pays $4.99 on each order" does not restate. A clause pair is the same
    statement when the overlap coefficient of their content-word stems is >= 0.8, so a paraphrase in other
    words ("free" / "never costs anything") never reads as a flip.
    """
    ref_clauses = [c for c in _CLAUSE.split(reference_sentence) if c and _stems(c)]
    out = []
    for clause in (c for c in _CLAUSE.split(answer_sentence) if c and _stems(c)):
        best = max(ref_clauses, key=lambda r: _overlap(r, clause), default=None)
        if best is None or _overlap(best, clause) < 0.8 or negated(best) == negated(clause):
            continue
        if min(len(_stems(best)), len(_stems(clause))) < 2:
            continue  # "Without the Beatles" shares one word with any sentence about the Beatles: no statement
        # What is negated must be what the other side asserts: the first content word after the negation
        # ("not *encrypted*", "never *refunded*") appears in the other clause. "Bottles contribute to
        # pollution" and "bottles are not biodegradable" share their subject, not their predicate.
        negative, positive = (best, clause) if negated(best) else (clause, best)
        scope = _negation_scope(negative)
        if scope is None or scope in _stems(positive):
            out.append((best.strip(), clause.strip()))
    return out


def _negation_scope(clause: str) -> str | None:
    """The stem of the first content word after the clause's last negation word (None when there is none)."""
    last = None
    for last in _RE_NEGATION.finditer(clause):
        pass
    if last is None:
        return None
    for word in re.findall(r"[a-z0-9]+", clause[last.end():].casefold()):
        if word not in _STOPWORDS and not _RE_NEGATION.fullmatch(word) and word not in ("t", "be"):
            return word[:4]
    return None


def negated(sentence: str) -> bool:
    """Polarity of a sentence: an odd number of negation words makes it negative."""
    return len(_RE_NEGATION.findall(sentence)) % 2 == 1


_RE_NAME_WORD = re.compile(r"[\w&-]+(?:\.[\w&-]+)*")


def _name_words(text: str) -> set[str]:
    # Plural and singular are one name ("Monday" / "Mondays").
    return {w.lower().removesuffix("s") for w in _RE_NAME_WORD.findall(text)}


def entities(sentence: str) -> set[str]:
    """Capitalised names inside a sentence (a cheap stand-in for NER: products, places, plans, brands)."""
    found = set()
    for m in _RE_ENTITY.finditer(sentence):
        words = [w for w in m.group(0).split() if w not in _NOT_ENTITIES]
        if words:
            found.add(" ".join(words))
    return found


@dataclass(frozen=True)
class Contradiction:
    kind: str               # money, percent, duration, date, quantity, negation, entity
    reference_sentence: str
    answer_sentence: str
    reference_value: str
    answer_value: str

    def describe(self) -> str:
        if self.kind == "negation":
            return (f"negation: the answer says {self.answer_value!r} where the reference says "
                    f"{self.reference_value!r} ({self.reference_sentence!r})")
        return (f"{self.kind}: the answer says {self.answer_value!r} ({self.answer_sentence!r}) where the "
                f"reference says {self.reference_value!r} ({self.reference_sentence!r})")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "reference_sentence": self.reference_sentence,
                "answer_sentence": self.answer_sentence, "reference_value": self.reference_value,
                "answer_value": self.answer_value}


_EXAMPLE = re.compile(r"\b(?:for example|for instance|e\.g\.|such as|even)\b", re.IGNORECASE)


def _illustrative(sentence: str, fact: Fact) -> bool:
    """A fact inside an example ("for example a 30-minute walk", "even 15 minutes") illustrates, it does not
    state: from the example word to the end of its clause."""
    for m in _EXAMPLE.finditer(sentence, 0, max(fact.start, 0)):
        if not re.search(r"[,;:.]\s", sentence[m.end():fact.start]):
            return True
    return False


# Two sentences make the same statement (so a changed number or name in one contradicts the other) when
# their words other than numbers and names overlap this much (overlap coefficient of content-word stems).
# Chosen on bench/scorer_tuning.py's hand-written data ("same_statement_min" in its output): from 0.5 to
# 0.6 the fact gate catches 15 of 26 wrong answers with 2 false alarms on 44 correct ones (3 below 0.5,
# where another example's figure counts against the reference); at 0.7 it loses a catch. 0.6 is the
# strictest value that keeps every catch.
SAME_STATEMENT_MIN = 0.6


def _statement_stems(sentence: str) -> set[str]:
    names = {w for n in entities(sentence) for w in _name_words(n)}
    words = re.findall(r"[a-z]+", sentence.casefold())
    return {w[:4] for w in words if w not in _STOPWORDS and w.removesuffix("s") not in names
            and not _RE_NEGATION.fullmatch(w) and len(w) > 1}


def same_statement(a: str, b: str, minimum: float | None = None) -> bool:
    """Whether two sentences say the same thing about the same subject, numbers and names aside."""
    sa, sb = _statement_stems(a), _statement_stems(b)
    if len(sa) < 2 or len(sb) < 2:
        return False
    return len(sa & sb) / min(len(sa), len(sb)) >= (SAME_STATEMENT_MIN if minimum is None else minimum)


def fact_contradictions(
    reference_sentences: list[str], answer_sentences: list[str], alignment: Alignment,
) -> list[Contradiction]:
    """Facts of the answer that contradict the reference, per aligned sentence pair.

    For each answer sentence and its best reference sentence (cosine >= FACT_ALIGNMENT_MIN): a fact of
    a kind (and unit/currency) that the reference sentence also states, with a value the reference
    states nowhere, is a contradiction; so is a flipped polarity (cosine >= NEGATION_ALIGNMENT_MIN) and
    a name in place of one the reference names and the answer never mentions. A fact the reference
    does not talk about at all is an addition, not a contradiction (the support score sees additions).
    """
    ref_facts = [extract_facts(s) for s in reference_sentences]
    all_ref_values: dict[tuple[str, str], set] = {}
    for facts in ref_facts:
        for f in facts:
            all_ref_values.setdefault((f.kind, f.key), set()).add(f.value)
    answer_text = " ".join(answer_sentences)
    ref_entities_all = set().union(*(entities(s) for s in reference_sentences)) if reference_sentences else set()
    out: list[Contradiction] = []
    seen: set[tuple] = set()
    for j, sentence in enumerate(answer_sentences):
        if j >= len(alignment.answer_best):
            break
        i, sim = alignment.answer_best[j], alignment.answer_sims[j]
        if sim < FACT_ALIGNMENT_MIN:
            continue
        ref_sentence = reference_sentences[i]
        # The reference sentences about the same thing as this answer sentence: its best partner and any
        # other at least as close as FACT_ALIGNMENT_MIN (the answer may merge two of them into one).
        close = [i] + [k for k in range(len(reference_sentences)) if k != i and alignment.similarities
                       and alignment.similarities[k][j] >= FACT_ALIGNMENT_MIN]
        by_key: dict[tuple[str, str], list[tuple[Fact, str]]] = {}
        for k in close:
            for f in ref_facts[k]:
                if not _illustrative(reference_sentences[k], f):
                    by_key.setdefault((f.kind, f.key), []).append((f, reference_sentences[k]))
        for f in extract_facts(sentence):
            # Only facts of the same kind and unit that the reference states about the same thing: a
            # figure the reference gives about something else (another step of an estimate, another
            # example) is not contradicted by it, nor is an example of the answer's own ("even 15 minutes").
            partners = [(p, ps) for p, ps in by_key.get((f.kind, f.key), []) if same_statement(ps, sentence)]
            if not partners or f.value in all_ref_values.get((f.kind, f.key), set()) or _illustrative(sentence, f):
                continue
            key = (f.kind, f.key, f.value)
            if key not in seen:
                seen.add(key)
                partner, partner_sentence = partners[0]
                out.append(Contradiction(f.kind, partner_sentence, sentence, partner.text, f.text))
        if sim >= NEGATION_ALIGNMENT_MIN:
            for ref_clause, ans_clause in polarity_flips(ref_sentence, sentence)[:1]:
                out.append(Contradiction("negation", ref_sentence, sentence, ref_clause, ans_clause))
        # Compared word by word, not as phrases: "the Acme SDK for Python" and "the Acme Python SDK" name
        # the same thing. A contradiction needs a name word of the reference absent from the answer AND a
        # name word in the answer found nowhere in the reference.
        ref_names, ans_names = entities(ref_sentence), entities(sentence)
        answer_words = _name_words(answer_text)
        reference_words = _name_words(" ".join(reference_sentences)) | {
            w for n in ref_entities_all for w in _name_words(n)}
        missing = [n for n in ref_names if not _name_words(n) <= answer_words]
        new = [n for n in ans_names if not _name_words(n) <= reference_words]
        if missing and new and same_statement(ref_sentence, sentence):
            out.append(Contradiction("entity", ref_sentence, sentence, ", ".join(sorted(missing)),
                                     ", ".join(sorted(new))))
    return out


# --- judge calibration against SMEs ---------------------------------------------------------------

MIN_CALIBRATION_ITEMS = 30
DEFAULT_MIN_KAPPA = 0.6


@dataclass(frozen=True)
class JudgeAgreement:
    """Agreement of a judge's pass/fail with SMEs' on the same items.

    kappa: Cohen's kappa (nan when undefined); low/high: its 95% interval (normal approximation with the
    large-sample standard error sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)), clipped to [-1, 1]); confusion:
    counts keyed judge/sme ("pass/pass", "pass/fail", "fail/pass", "fail/fail"). calibrated: kappa at or
    above the minimum on at least MIN_CALIBRATION_ITEMS items; reason says why not otherwise.
    """

    n: int
    kappa: float
    low: float
    high: float
    confusion: dict
    calibrated: bool
    reason: str

    def to_dict(self) -> dict:
        def clean(x):
            return None if x != x else round(x, 4)
        return {"n": self.n, "kappa": clean(self.kappa), "low": clean(self.low), "high": clean(self.high),
                "confusion": self.confusion, "calibrated": self.calibrated, "reason": self.reason}


def judge_agreement(judge: list[bool], sme: list[bool], *, min_kappa: float = DEFAULT_MIN_KAPPA,
                    min_items: int = MIN_CALIBRATION_ITEMS) -> JudgeAgreement:
    from .agreement import cohen_kappa

    if len(judge) != len(sme):
        raise ValueError("judge and SME labels must be paired")
    n = len(judge)
    confusion = {f"{'pass' if j else 'fail'}/{'pass' if s else 'fail'}": 0 for j in (True, False) for s in (True, False)}
    for j, s in zip(judge, sme):
        confusion[f"{'pass' if j else 'fail'}/{'pass' if s else 'fail'}"] += 1
    k = cohen_kappa(list(judge), list(sme))
    if n == 0 or k.kappa != k.kappa:
        low = high = float("nan")
    else:
        se = float(np.sqrt(max(k.observed * (1 - k.observed), 0.0) / (n * (1 - k.expected) ** 2)))
        low, high = max(-1.0, k.kappa - 1.959964 * se), min(1.0, k.kappa + 1.959964 * se)
    if n < min_items:
        calibrated, reason = False, f"measured on {n} item(s); at least {min_items} are needed"
    elif k.kappa != k.kappa:
        calibrated, reason = False, "kappa is undefined: judge and SMEs gave one and the same label throughout"
    elif k.kappa < min_kappa:
        calibrated, reason = False, f"kappa {k.kappa:.2f} is below the minimum {min_kappa:.2f}"
    else:
        calibrated, reason = True, f"kappa {k.kappa:.2f} on {n} items meets the minimum {min_kappa:.2f}"
    return JudgeAgreement(n, k.kappa, low, high, confusion, calibrated, reason)
