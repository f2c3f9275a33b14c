"""Golden-set scorers as named objects with one interface, found in one registry.

A scorer marks an answer against a golden item: for each (item, answer) it returns a
:class:`ScoreOutcome` — ``passed``, ``failed`` or ``errored`` (or ``skipped`` when it has nothing to
say about this item, e.g. acceptance criteria on an item without criteria) — with a reason a
person can read. The maths behind each scorer lives in ``drift_app/stats/scoring.py`` (pure); this
module only feeds it (embeddings, the judge's endpoint) and names the results.

How the outcomes combine (``combine``) is decided by each scorer's ``role``:
- ``content`` scorers say whether the answer carries the reference's content: the item's content
  is right when any content scorer passes;
- ``gate`` scorers must not fail: one failing gate fails the item whatever the content scorers say;
- any scorer that errors makes the item errored (never passed, never failed).

How to add a scorer
-------------------
1. Subclass :class:`Scorer` with a unique ``name``, a ``role`` and ``score_many(items, answers, context)``
   returning one :class:`ScoreOutcome` per item (batch: embeddings and LLM calls are cheaper in bulk).
2. ``register(MyScorer())`` at import time of this module (or of a module imported by the app's
   ``ready()``). Evaluation runs call every registered scorer, store each outcome by name in
   ``EvalResult.scorer_outcomes`` and combine them by role. ``tests/goldenset/test_scorers.py`` shows it.
"""

from __future__ import annotations

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
    # texts -> (n, d) L2-normalised vectors (the evaluation service passes its cached encoder)
    encode: Callable[[list[str]], np.ndarray] | None = None
    # messages lists -> replies with .ok, .content, .error (an OpenAI-compatible chat client)
    judge_complete_many: Callable[[list[list[dict]]], list] | None = None
    judge_model: str = ""


class Scorer:
    name: str = ""
    role: Literal["content", "gate"] = "content"
    label: str = ""

    def enabled(self, context: ScoringContext) -> bool:
        return True

    def score_many(self, items: list[ScoringItem], answers: list[str], context: ScoringContext) -> list[ScoreOutcome]:
        raise NotImplementedError  # pragma: no cover - every registered scorer overrides it


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


class JudgeScorer(Scorer):
    name, role, label = "judge", "content", "LLM judge"

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


def combine(outcomes: dict[str, ScoreOutcome]) -> tuple[Status, str]:
    """The item's outcome from its scorers' outcomes, by role (see the module docstring)."""
    errored = [f"{n}: {o.reason}" for n, o in outcomes.items() if o.status == ERRORED]
    if errored:
        return ERRORED, "; ".join(errored)
    gates_failed = [f"{n}: {o.reason}" for n, o in outcomes.items()
                    if o.status == FAILED and _REGISTRY.get(n, Scorer()).role == "gate"]
    content = {n: o for n, o in outcomes.items() if _REGISTRY.get(n, Scorer()).role == "content" and o.status != SKIPPED}
    passing = [n for n, o in content.items() if o.status == PASSED]
    if gates_failed:
        return FAILED, "; ".join(gates_failed)
    if passing:
        return PASSED, f"content confirmed by {', '.join(passing)}"
    return FAILED, "; ".join(f"{n}: {o.reason}" for n, o in content.items()) or "no scorer confirmed the content"


for _scorer in (ExactScorer(), AcceptanceScorer(), SemanticScorer(), JudgeScorer()):
    register(_scorer)
