"""Langfuse-shaped events (the `{"batch": [...]}` of POST /api/public/ingestion) that carry LLM calls.

A generation event becomes the same JSON ingestion record as the OTLP span a Langfuse SDK would have sent
for it: external_id "<traceId>:<id>", input/output read as Langfuse attributes (drift_app.integrations.otlp).
Scores are feedback and live in the feedback layer (feedback/integrations.py).
"""

from __future__ import annotations

from typing import Any

from .otlp import extract

GENERATION_EVENTS = {"generation-create", "generation-update", "observation-create", "observation-update"}


def merge_generations(events: list[dict]) -> dict[str, dict]:
    """The bodies of generation events merged by observation id (an update adds the output the create lacked)."""
    merged: dict[str, dict] = {}
    for event in events:
        body = event.get("body") or {}
        if event.get("type") in ("observation-create", "observation-update") and body.get("type") != "GENERATION":
            continue
        oid = body.get("id")
        if isinstance(oid, str) and oid:
            merged.setdefault(oid, {}).update({k: v for k, v in body.items() if v is not None})
    return merged


def generation_record(body: dict[str, Any], *, event_timestamp: str | None) -> dict:
    """The JSON ingestion record of one merged generation body."""
    ex = extract({
        "langfuse.observation.type": "generation",
        "langfuse.observation.input": body.get("input"),
        "langfuse.observation.output": body.get("output"),
        "langfuse.observation.model.name": body.get("model"),
    })
    record = {
        "external_id": f"{body.get('traceId')}:{body.get('id')}",
        "prompt": ex.prompt,
        "response": ex.response,
        "timestamp": body.get("endTime") or body.get("startTime") or event_timestamp,
        "metadata": {k: v for k, v in {"source": "langfuse-ingestion", "trace_id": body.get("traceId"),
                                        "observation_id": body.get("id"),
                                        "name": (body.get("name") or "")[:200]}.items() if v},
    }
    if ex.prompt_system:
        record["prompt_system"] = ex.prompt_system
    if ex.model:
        record["model_version"] = ex.model[:200]
    return record
