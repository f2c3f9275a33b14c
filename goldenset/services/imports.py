"""Import (JSONL/CSV with a per-row report and near-duplicate check) and export."""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction

from drift_app import embeddings
from drift_app.models import Team
from drift_app.validation import csv_safe, loads_strict, text_problem

from ..models import (
    GoldenItem,
    GoldenItemEvent,
)
from .common import (
    IMPORT_FIELDS,
    NEAR_DUPLICATE_SIMILARITY,
    _reason,
    item_field_problems,
)
from .items import author_team, golden_item_create

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



# --- import ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    problem: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "problem": self.problem}


@dataclass(frozen=True)
class NearDuplicate:
    row: int
    prompt: str
    existing_item_id: int | None
    existing_row: int | None
    existing_prompt: str
    similarity: float

    def as_dict(self) -> dict:
        return {"row": self.row, "prompt": self.prompt, "existing_item_id": self.existing_item_id,
                "existing_row": self.existing_row, "existing_prompt": self.existing_prompt,
                "similarity": round(self.similarity, 4)}


@dataclass
class ImportReport:
    rows: int = 0
    created: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: list[NearDuplicate] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows, "created": len(self.created), "created_ids": self.created,
            "problems": [p.as_dict() for p in self.problems],
            "near_duplicates": [d.as_dict() for d in self.duplicates],
        }


def _split_terms(value: str) -> list[str]:
    # CSV cells hold lists separated by "|" (commas occur inside terms, e.g. "$1,000").
    return [t.strip() for t in (value or "").split("|") if t.strip()]


def parse_import(*, fmt: str, content: str) -> tuple[list[dict], list[RowProblem]]:
    """Parse JSONL or CSV into row dicts (row numbers from 1, as an editor shows them)."""
    rows: list[dict] = []
    problems: list[RowProblem] = []
    if fmt == "jsonl":
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = loads_strict(line)
            except ValueError as exc:
                problems.append(RowProblem(n, "line", f"is not valid JSON: {getattr(exc, 'msg', exc)}"))
                continue
            if not isinstance(obj, dict):
                problems.append(RowProblem(n, "line", f"must be a JSON object, got {type(obj).__name__}"))
                continue
            obj["_row"] = n
            rows.append(obj)
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(content))
        missing = {"prompt", "reference_answer", "category"} - set(reader.fieldnames or [])
        if missing:
            return [], [RowProblem(1, sorted(missing)[0], "column is missing from the header row")]
        records = []
        try:
            for record in reader:
                records.append((reader.line_num, record))
        except csv.Error as exc:
            # e.g. a field over csv.field_size_limit() (131,072 characters): a row problem, not a 500.
            return [], [RowProblem(reader.line_num, "line", f"cannot be read as CSV: {exc}")]
        for n, record in records:
            if None in record:
                problems.append(RowProblem(n, "line", "has more cells than the header"))
                continue
            row = {k: v for k, v in record.items() if k}
            row["tags"] = _split_terms(row.get("tags", ""))
            acceptance = {}
            for key in ("must_include", "must_not_include"):
                if row.pop(key, ""):
                    acceptance[key] = _split_terms(record[key])
            if row.get("regex"):
                acceptance["regex"] = row["regex"]
            row.pop("regex", None)
            row["acceptance"] = acceptance
            row["_row"] = n
            rows.append(row)
    else:
        problems.append(RowProblem(0, "format", "must be 'jsonl' or 'csv'"))
    for row in rows:
        for key, value in row.items():
            texts = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
            for text in texts:
                problem = text_problem(text) if isinstance(text, str) else None
                if problem:
                    problems.append(RowProblem(row["_row"], key, problem))
                    break
    return rows, problems


def _nearest_existing(vector: np.ndarray, *, team: Team) -> tuple[GoldenItem | None, float]:
    from pgvector.django import CosineDistance

    hit = (
        GoldenItem.objects.filter(team=team).exclude(status=Status.RETIRED)
        .filter(prompt_embedding__isnull=False, embedding_model=embeddings.MODEL_NAME)
        .annotate(distance=CosineDistance("prompt_embedding", vector)).order_by("distance")
        .only("id", "prompt").first()
    )
    if hit is None:
        return None, 0.0
    return hit, 1.0 - float(hit.distance)


@transaction.atomic
def golden_import(
    *, user, fmt: str, content: str, reason: str, accept_duplicate_rows: list[int] | None = None,
    team: Team | None = None,
) -> ImportReport:
    """Import items as drafts (source "imported").

    Any invalid row: nothing is stored and the report lists (row, field, problem). Otherwise every
    row is stored except near-duplicates (cosine >= 0.95 to a live item or to an earlier row),
    which are reported for the SME to decide; rows listed in `accept_duplicate_rows` are stored anyway.
    """
    reason = _reason(reason)
    team = author_team(author=user, team=team)
    accepted = set(accept_duplicate_rows or [])
    rows, problems = parse_import(fmt=fmt, content=content)
    report = ImportReport(rows=len(rows) + len([p for p in problems if p.field == "line"]))
    for row in rows:
        n = row["_row"]
        unknown = set(row) - set(IMPORT_FIELDS) - {"_row"}
        if fmt == "jsonl" and unknown:
            problems.append(RowProblem(n, sorted(unknown)[0], f"unknown field; allowed: {', '.join(IMPORT_FIELDS)}"))
        acceptance = row.get("acceptance") or {}
        if fmt == "jsonl":
            if not isinstance(acceptance, dict):
                problems.append(RowProblem(n, "acceptance", "must be an object"))
                acceptance = {}
            acceptance = dict(acceptance)
            for key in ("must_include", "must_not_include", "regex"):
                if key in row:
                    acceptance[key] = row[key]
            row["acceptance"] = acceptance
        for name, problem in item_field_problems(
            prompt=row.get("prompt"), reference_answer=row.get("reference_answer"), category=row.get("category"),
            tags=row.get("tags", []), acceptance=acceptance,
        ):
            problems.append(RowProblem(n, name, problem))
    if not rows and not problems:
        problems.append(RowProblem(0, "file", "contains no rows"))
    if problems:
        report.problems = sorted(problems, key=lambda p: (p.row, p.field))
        return report

    vectors = embeddings.encode([r["prompt"].strip() for r in rows])
    kept: list[tuple[dict, np.ndarray]] = []
    for row, vector in zip(rows, vectors):
        n = row["_row"]
        existing, similarity = _nearest_existing(vector, team=team)
        dup = None
        if existing is not None and similarity >= NEAR_DUPLICATE_SIMILARITY:
            dup = NearDuplicate(n, row["prompt"], existing.id, None, existing.prompt, similarity)
        elif kept:
            sims = np.stack([v for _, v in kept]) @ vector
            best = int(np.argmax(sims))
            if sims[best] >= NEAR_DUPLICATE_SIMILARITY:
                dup = NearDuplicate(n, row["prompt"], None, kept[best][0]["_row"], kept[best][0]["prompt"], float(sims[best]))
        if dup is not None and n not in accepted:
            report.duplicates.append(dup)
            continue
        item = golden_item_create(
            author=user, prompt=row["prompt"], reference_answer=row["reference_answer"], category=row["category"],
            tags=row.get("tags") or [], acceptance=row.get("acceptance") or {}, source=GoldenItem.Source.IMPORTED,
            reason=f"Imported (row {n}): {reason}", _vector=vector, team=team,
        )
        kept.append((row, vector))
        report.created.append(item.id)
    return report


def golden_export(*, fmt: str, items) -> str:
    """Items as JSONL or CSV in the import format (plus id and status, ignored on import)."""
    out = io.StringIO()
    if fmt == "jsonl":
        for i in items:
            out.write(json.dumps({
                "id": i.id, "status": i.status, "prompt": i.prompt, "reference_answer": i.reference_answer,
                "category": i.category, "tags": i.tags, "acceptance": i.acceptance,
            }, ensure_ascii=False) + "\n")
        return out.getvalue()
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["id", "status", "prompt", "reference_answer", "category", "tags", "must_include",
                         "must_not_include", "regex"])
        for i in items:
            acc = i.acceptance or {}
            # csv_safe: a cell like =HYPERLINK(...) is not evaluated when the export is opened in a spreadsheet.
            writer.writerow([csv_safe(v) for v in (
                i.id, i.status, i.prompt, i.reference_answer, i.category, "|".join(i.tags),
                "|".join(acc.get("must_include", [])), "|".join(acc.get("must_not_include", [])),
                acc.get("regex", ""))])
        return out.getvalue()
    raise ValidationError({"format": "must be 'jsonl' or 'csv'"})
