"""Golden-set scorers as named objects with one interface, found in one registry.

A scorer marks an answer against a golden item: for each (item, answer) it returns a
:class:`ScoreOutcome` — ``passed``, ``failed`` or ``errored`` (or ``skipped`` when it has nothing to
say about this item, e.g. acceptance criteria on an item without criteria) — with a reason a
person can read. The maths behind each scorer lives in ``drift_app/stats/scoring.py`` (pure); this
module only feeds it (embeddings, the judge's endpoint) and names the results.

How the outcomes combine (``combine``) is a named *combination rule* (``RULES``), chosen per
deployment (``EvalConfig.combination_rule``) and stored on every run with the scorer configuration
(``scorer_config``): a run is compared only with a baseline scored the same way. In every rule:
- ``gate`` scorers must not fail: one failing gate (acceptance criteria, fact consistency) fails the
  item whatever the content scorers say;
- any scorer that errors makes the item errored (never passed, never failed).
Rules differ in who decides the content:
- ``judge-authoritative`` (the default): a configured LLM judge decides (its fail is a fail);
  without a judge the answer passes on an exact match or on sentence alignment (coverage or support,
  see ``drift_app.stats.scoring.alignment_passes``). The single-vector ``semantic`` score is shown but
  decides nothing: it passes negations and changed numbers and fails correct answers of another length.
- ``any-content`` (the rule before issue 12): the item's content is right when any content scorer
  passes (exact OR similarity OR judge); kept so that older runs keep their meaning.

How to add a scorer
-------------------
1. Subclass :class:`Scorer` with a unique ``name``, a ``role`` and ``score_many(items, answers, context)``
   returning one :class:`ScoreOutcome` per item (batch: embeddings and LLM calls are cheaper in bulk).
2. ``register(MyScorer())`` at import time of this module (or of a module imported by the app's
   ``ready()``). Evaluation runs call every registered scorer, store each outcome by name in
   ``EvalResult.scorer_outcomes`` and combine them by role. ``tests/goldenset/test_scorers.py`` shows it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from drift_app.stats import scoring

Status = Literal["passed", "failed", "errored", "skipped"]
PASSED, FAILED, ERRORED, SKIPPED = "passed", "failed", "errored", "skipped"


@dataclass(frozen=True)
class ScoringItem:
    prompt: str
    reference: str
    acceptance: dict | None = None


@dataclass(frozen=True)
class ScoreOutcome:
    status: Status
    reason: str
    score: float | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "score": self.score, "details": self.details}


@dataclass
class ScoringContext:
    """What scorers may need beyond the item and answer; built by the evaluation-run service."""

    similarity_threshold: float = scoring.DEFAULT_SIMILARITY_THRESHOLD
    alignment_threshold: float = scoring.DEFAULT_ALIGNMENT_THRESHOLD
    # texts -> (n, d) L2-normalised vectors (the evaluation service passes its cached encoder)
    encode: Callable[[list[str]], np.ndarray] | None = None
    # messages lists -> replies with .ok, .content, .error (an OpenAI-compatible chat client)
    judge_complete_many: Callable[[list[list[dict]]], list] | None = None
    judge_model: str = ""
    # Shared between scorers of one score_all call (the sentence alignment is computed once).
    cache: dict = field(default_factory=dict)


class Scorer(ABC):
    name: str = ""
    role: Literal["content", "gate"] = "content"
    label: str = ""
    # Bump when the scorer's behaviour changes: runs scored by different versions are not compared.
    version: str = "1"

    def enabled(self, context: ScoringContext) -> bool:
        return True

    @abstractmethod
    def score_many(self, items: list[ScoringItem], answers: list[str], context: ScoringContext) -> list[ScoreOutcome]:
        """One outcome per item, in order."""


class ExactScorer(Scorer):
    name, role, label = "exact", "content", "Exact match"

    def score_many(self, items, answers, context):
        out = []
        for item, answer in zip(items, answers):
            if scoring.exact_match(answer, item.reference):
                out.append(ScoreOutcome(PASSED, "the answer equals the reference after normalisation", 1.0))
            else:
                out.append(ScoreOutcome(FAILED, "the answer differs from the reference", 0.0))
        return out


class AcceptanceScorer(Scorer):
    name, role, label = "acceptance", "gate", "Acceptance criteria"

    def score_many(self, items, answers, context):
        out = []
        for item, answer in zip(items, answers):
            ok, problems = scoring.check_acceptance(answer, item.acceptance)
            if ok is None:
                out.append(ScoreOutcome(SKIPPED, "the item has no acceptance criteria"))
            elif ok:
                out.append(ScoreOutcome(PASSED, "every acceptance criterion holds"))
            else:
                out.append(ScoreOutcome(FAILED, "; ".join(problems), details={"problems": problems}))
        return out


class SemanticScorer(Scorer):
    name, role, label = "semantic", "content", "Semantic similarity"

    def score_many(self, items, answers, context):
        if not items:
            return []
        if context.encode is None:
            return [ScoreOutcome(ERRORED, "no encoder available to embed the answers")] * len(items)
        vectors = context.encode(list(answers) + [i.reference for i in items])
        sims = scoring.cosine_rows(vectors[: len(items)], vectors[len(items):])
        thr = context.similarity_threshold
        out = []
        for item, answer, sim in zip(items, answers, sims):
            sim = 1.0 if scoring.exact_match(answer, item.reference) else float(sim)
            status = PASSED if sim >= thr else FAILED
            relation = "at or above" if status == PASSED else "below"
            out.append(ScoreOutcome(status, f"cosine similarity {sim:.3f} is {relation} the threshold {thr:.2f}",
                                    round(sim, 4)))
        return out


@dataclass(frozen=True)
class SentenceAlignment:
    reference_sentences: list[str]
    answer_sentences: list[str]
    alignment: scoring.Alignment


def sentence_alignments(items: list[ScoringItem], answers: list[str], context: ScoringContext) -> list[SentenceAlignment] | None:
    """Every item's sentence alignment, embedded in one batch and cached on the context; None without an encoder."""
    key = ("alignment", tuple(i.reference for i in items), tuple(answers))
    if key in context.cache:
        return context.cache[key]
    if context.encode is None:
        return None
    ref_sents = [scoring.split_sentences(i.reference) for i in items]
    ans_sents = [scoring.split_sentences(a) for a in answers]
    texts = [s for group in ref_sents + ans_sents for s in group]
    # Each distinct sentence is embedded once: references repeat across items' variants and answers
    # share most sentences with their reference.
    unique = list(dict.fromkeys(texts))
    if unique:
        where = {t: i for i, t in enumerate(unique)}
        vectors = np.asarray(context.encode(unique))[[where[t] for t in texts]]
    else:
        vectors = np.zeros((0, 1), dtype=np.float32)
    out, pos, n = [], 0, len(items)
    spans = []
    for group in ref_sents + ans_sents:
        spans.append((pos, pos + len(group)))
        pos += len(group)
    for k in range(n):
        (a0, a1), (b0, b1) = spans[k], spans[n + k]
        out.append(SentenceAlignment(ref_sents[k], ans_sents[k],
                                     scoring.align_sentences(vectors[a0:a1], vectors[b0:b1])))
    context.cache[key] = out
    return out


class AlignmentScorer(Scorer):
    """Content coverage and support from sentence-level alignment (see drift_app.stats.scoring)."""

    name, role, label, version = "alignment", "content", "Sentence coverage and support", "1"

    def score_many(self, items, answers, context):
        if not items:
            return []
        aligned = sentence_alignments(items, answers, context)
        if aligned is None:
            return [ScoreOutcome(ERRORED, "no encoder available to embed the sentences")] * len(items)
        thr = context.alignment_threshold
        out = []
        for item, answer, sa in zip(items, answers, aligned):
            al = sa.alignment
            details = {"coverage": al.coverage, "support": al.support, "threshold": thr,
                       "reference_sentences": len(sa.reference_sentences), "answer_sentences": len(sa.answer_sentences)}
            if scoring.exact_match(answer, item.reference):
                out.append(ScoreOutcome(PASSED, "the answer equals the reference", 1.0, details))
                continue
            if not sa.answer_sentences:
                out.append(ScoreOutcome(FAILED, "the answer has no sentence to compare", 0.0, details))
                continue
            passed = scoring.alignment_passes(al, thr)
            uncovered = [s for s, sim in zip(sa.reference_sentences, al.reference_sims) if sim < thr]
            reason = (f"covers {al.coverage:.2f} of the reference and is supported {al.support:.2f} by it; "
                      f"{'the larger reaches' if passed else 'neither reaches'} the threshold {thr:.2f}")
            if not passed and uncovered:
                reason += f"; not covered: {uncovered[0][:160]!r}"
            details["uncovered"] = uncovered[:5]
            out.append(ScoreOutcome(PASSED if passed else FAILED, reason, round(max(al.coverage, al.support), 4), details))
        return out


class FactScorer(Scorer):
    """Numbers, amounts, percentages, durations, dates, polarity and names of aligned sentences must agree."""

    name, role, label, version = "facts", "gate", "Fact consistency", "1"

    def score_many(self, items, answers, context):
        if not items:
            return []
        aligned = sentence_alignments(items, answers, context)
        if aligned is None:
            return [ScoreOutcome(ERRORED, "no encoder available to align the sentences")] * len(items)
        out = []
        for sa in aligned:
            found = scoring.fact_contradictions(sa.reference_sentences, sa.answer_sentences, sa.alignment)
            if found:
                out.append(ScoreOutcome(FAILED, "contradicts the reference: " + "; ".join(c.describe() for c in found[:3]),
                                        0.0, {"contradictions": [c.to_dict() for c in found[:10]]}))
            else:
                out.append(ScoreOutcome(PASSED, "no number, amount, date, polarity or name contradicts the reference", 1.0))
        return out


class JudgeScorer(Scorer):
    name, role, label = "judge", "content", "LLM judge"
    version = scoring.JUDGE_PROMPT_VERSION

    def enabled(self, context):
        return context.judge_complete_many is not None

    def score_many(self, items, answers, context):
        replies = context.judge_complete_many([
            scoring.judge_messages(prompt=i.prompt, reference=i.reference, answer=a) for i, a in zip(items, answers)
        ])
        out = []
        for reply in replies:
            if not reply.ok:
                out.append(ScoreOutcome(ERRORED, str(reply.error)))
                continue
            try:
                verdict = scoring.parse_judge_reply(reply.content)
            except scoring.JudgeReplyMalformed as exc:
                out.append(ScoreOutcome(ERRORED, str(exc)))
                continue
            out.append(ScoreOutcome(
                PASSED if verdict.passed else FAILED, verdict.rationale or f"judge says {'pass' if verdict.passed else 'fail'}",
                verdict.score, details={"model": context.judge_model, "prompt_version": scoring.JUDGE_PROMPT_VERSION,
                                       "rationale": verdict.rationale},
            ))
        return out


_REGISTRY: dict[str, Scorer] = {}


def register(scorer: Scorer, *, replace: bool = False) -> Scorer:
    if not scorer.name:
        raise ValueError("a scorer needs a name")
    if scorer.role not in ("content", "gate"):
        raise ValueError(f"scorer role must be 'content' or 'gate', got {scorer.role!r}")
    if scorer.name in _REGISTRY and not replace:
        raise ValueError(f"scorer {scorer.name!r} is already registered")
    _REGISTRY[scorer.name] = scorer
    return scorer


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Scorer:
    return _REGISTRY[name]


def scorers() -> tuple[Scorer, ...]:
    return tuple(_REGISTRY.values())


def score_all(items: list[ScoringItem], answers: list[str], context: ScoringContext) -> list[dict[str, ScoreOutcome]]:
    """Every enabled registered scorer on every item: one {scorer name: outcome} per item."""
    per_item: list[dict[str, ScoreOutcome]] = [{} for _ in items]
    for scorer in scorers():
        if not scorer.enabled(context):
            continue
        for slot, outcome in zip(per_item, scorer.score_many(items, answers, context)):
            slot[scorer.name] = outcome
    return per_item


def _role(name: str) -> str:
    # Outcomes stored by a scorer no longer registered count as content: they never gate an item.
    scorer = _REGISTRY.get(name)
    return scorer.role if scorer is not None else "content"


def _errored_or_gated(outcomes: dict[str, ScoreOutcome]) -> tuple[Status, str] | None:
    errored = [f"{n}: {o.reason}" for n, o in outcomes.items() if o.status == ERRORED]
    if errored:
        return ERRORED, "; ".join(errored)
    gates_failed = [f"{n}: {o.reason}" for n, o in outcomes.items()
                    if o.status == FAILED and _role(n) == "gate"]
    if gates_failed:
        return FAILED, "; ".join(gates_failed)
    return None


def _combine_any_content(outcomes: dict[str, ScoreOutcome], advisory: frozenset = frozenset()) -> tuple[Status, str]:
    early = _errored_or_gated(outcomes)
    if early:
        return early
    content = {n: o for n, o in outcomes.items() if _role(n) == "content"
               and o.status != SKIPPED and n not in advisory}
    passing = [n for n, o in content.items() if o.status == PASSED]
    if passing:
        return PASSED, f"content confirmed by {', '.join(passing)}"
    return FAILED, "; ".join(f"{n}: {o.reason}" for n, o in content.items()) or "no scorer confirmed the content"


# Scorers whose outcome is shown but decides nothing under the default rule (see the module docstring).
ADVISORY_SCORERS = frozenset({"semantic"})


def _combine_judge_authoritative(outcomes: dict[str, ScoreOutcome]) -> tuple[Status, str]:
    early = _errored_or_gated(outcomes)
    if early:
        return early
    judge = outcomes.get("judge")
    if judge is not None and judge.status in (PASSED, FAILED):
        return judge.status, f"judge: {judge.reason}"
    return _combine_any_content({n: o for n, o in outcomes.items() if n != "judge"}, ADVISORY_SCORERS)


@dataclass(frozen=True)
class CombinationRule:
    name: str
    description: str
    decide: Callable[[dict[str, ScoreOutcome]], tuple[Status, str]]


RULES: dict[str, CombinationRule] = {r.name: r for r in (
    CombinationRule("judge-authoritative",
                    "gates (acceptance, facts) must hold; a configured judge decides; otherwise exact match or "
                    "sentence alignment; the single-vector similarity is shown only", _combine_judge_authoritative),
    CombinationRule("any-content", "gates must hold; then exact OR similarity OR alignment OR judge passes "
                                   "(the rule before issue 12)", _combine_any_content),
)}
DEFAULT_RULE = "judge-authoritative"


def combine(outcomes: dict[str, ScoreOutcome], rule: str = DEFAULT_RULE) -> tuple[Status, str]:
    """The item's outcome from its scorers' outcomes under a named combination rule (see the module docstring)."""
    try:
        return RULES[rule].decide(outcomes)
    except KeyError:
        raise ValueError(f"unknown combination rule {rule!r}; known: {', '.join(RULES)}") from None


def scorer_config(*, rule: str = DEFAULT_RULE, similarity_threshold: float = scoring.DEFAULT_SIMILARITY_THRESHOLD,
                  alignment_threshold: float = scoring.DEFAULT_ALIGNMENT_THRESHOLD, judge_model: str = "") -> dict:
    """What decides a run's outcomes, stored on the run; two runs are comparable only when this is equal.

    A new judge model or rubric version (the judge scorer's version) is a new configuration: a new series.
    """
    if rule not in RULES:
        raise ValueError(f"unknown combination rule {rule!r}; known: {', '.join(RULES)}")
    return {
        "rule": rule,
        "scorers": {s.name: s.version for s in scorers() if s.name != "judge" or judge_model},
        "similarity_threshold": round(float(similarity_threshold), 4),
        "alignment_threshold": round(float(alignment_threshold), 4),
        "judge_model": judge_model or "",
    }


def scorer_config_differences(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two scorer configurations (empty when comparable)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append(f"{key}: {b.get(key)!r} (baseline) vs {a.get(key)!r} (this run)")
    return out


for _scorer in (ExactScorer(), AcceptanceScorer(), SemanticScorer(), AlignmentScorer(), FactScorer(), JudgeScorer()):
    register(_scorer)
