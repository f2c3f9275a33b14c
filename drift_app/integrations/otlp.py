"""OTLP/HTTP traces in (the official opentelemetry-proto messages), LLM spans out as sample records.

Bodies are protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally gzip. OTLP/JSON
differs from protobuf's canonical JSON in one way that matters: trace and span ids are hex, not base64;
they are rewritten to base64 before `json_format` parses the body (base64 ids are accepted too, by length).

A span is an LLM call when it says so in any of the three conventions: Langfuse (`langfuse.observation.type`
= generation), OpenTelemetry GenAI (`gen_ai.*`; embeddings calls excluded) or OpenInference
(`openinference.span.kind` = LLM). Prompt and response are read in this order of precedence: Langfuse
attributes, GenAI semantic conventions (current `gen_ai.input.messages` / `gen_ai.output.messages` /
`gen_ai.system_instructions`, then legacy `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`), OpenInference
(`llm.input_messages.N.*` / `llm.output_messages.N.*`, then `input.value` / `output.value`). The messages are
preferred over OpenInference's `input.value` because they say who wrote what (system or user).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..validation import PayloadInvalid, SampleIn, checked_text, parse_samples, text_problem
from .messages import Parts, joined, read_messages

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpBadRequest(ValueError):
    """A body that is not an OTLP trace export; the message says what is wrong."""


class OtlpTooLarge(ValueError):
    pass


# --- Decoding -------------------------------------------------------------------------------------


def decompress(body: bytes, encoding: str, *, max_bytes: int) -> bytes:
    """The body without its gzip/deflate coding, refusing more than max_bytes once inflated (zip bombs)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpBadRequest(f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpBadRequest(f"The body is not valid {encoding}: {exc}.") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise OtlpTooLarge(f"The body inflates to more than {max_bytes} bytes.")
    return out


_HEX = re.compile(r"^[0-9a-fA-F]*$")
_ID_FIELDS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}


def _ids_to_base64(node: Any) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON mapping wants base64 for bytes. Rewrite them in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            size = _ID_FIELDS.get(key)
            if size and isinstance(value, str) and len(value) == 2 * size and _HEX.match(value):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            elif isinstance(value, (dict, list)):
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)


def parse_request(body: bytes, content_type: str) -> tuple[ExportTraceServiceRequest, bool]:
    """(the export request, whether it came as JSON). Raises OtlpBadRequest."""
    media = (content_type or "").split(";")[0].strip().lower()
    message = ExportTraceServiceRequest()
    if media in (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"):
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpBadRequest(f"The body is not an OTLP ExportTraceServiceRequest in protobuf: {exc}.") from None
        return message, False
    if media == JSON:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OtlpBadRequest(f"The body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise OtlpBadRequest("The body must be a JSON object with resourceSpans.")
        _ids_to_base64(data)
        try:
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
        except (json_format.ParseError, binascii.Error, ValueError) as exc:
            raise OtlpBadRequest(f"The body is not an OTLP/JSON trace export: {exc}.") from None
        return message, True
    raise OtlpBadRequest(
        f"Content-Type {media or '(none)'!r} is not supported; send {PROTOBUF} or {JSON} (OTLP/HTTP)."
    )


def response_body(*, rejected: int, message: str, as_json: bool) -> tuple[bytes, str]:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if as_json:
        return json_format.MessageToJson(response, indent=None).encode(), JSON
    return response.SerializeToString(), PROTOBUF


def error_body(message: str, *, as_json: bool, code: int = 3) -> tuple[bytes, str]:
    """A google.rpc.Status, the body OTLP/HTTP puts on a 4xx (code 3: INVALID_ARGUMENT)."""
    from google.rpc.status_pb2 import Status

    status = Status(code=code, message=message)
    if as_json:
        return json_format.MessageToJson(status, indent=None).encode(), JSON
    return status.SerializeToString(), PROTOBUF


# --- Attributes -----------------------------------------------------------------------------------


def any_value(value) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(kvs) -> dict[str, Any]:
    """The attributes as a plain dict, read once per span (every later lookup is a dict lookup)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        kind = value.WhichOneof("value")
        # Strings are nearly every attribute an LLM span carries: read them without any_value's dispatch.
        out[kv.key] = value.string_value if kind == "string_value" else (any_value(value) if kind else None)
    return out


# --- LLM spans --------------------------------------------------------------------------------------


@dataclass
class Extracted:
    prompt: str
    prompt_system: str
    response: str
    model: str | None
    source: str  # the convention the prompt came from


_NON_GENERATION_OPS = {"embeddings", "embedding", "execute_tool", "create_agent"}


def is_llm_span(attrs: dict[str, Any]) -> bool:
    if str(attrs.get("langfuse.observation.type", "")).lower() == "generation":
        return True
    if str(attrs.get("openinference.span.kind", "")).upper() == "LLM":
        return True
    op = attrs.get("gen_ai.operation.name")
    if op is not None:
        return str(op).lower() not in _NON_GENERATION_OPS
    return any(k in attrs for k in ("gen_ai.request.model", "gen_ai.input.messages", "gen_ai.prompt.0.content",
                                     "gen_ai.system", "gen_ai.provider.name"))


def _indexed(attrs: dict[str, Any], prefix: str, suffix_role: str, suffix_content: str) -> list[dict]:
    """Flattened messages (`prefix.N.role`, `prefix.N.content`) back into a list, in index order."""
    found: dict[int, dict] = {}
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.(.+)$")
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        m = pattern.match(key)
        if not m:
            continue
        i, rest = int(m.group(1)), m.group(2)
        msg = found.setdefault(i, {})
        if rest == suffix_role:
            msg["role"] = value
        elif rest == suffix_content:
            msg["content"] = value
        elif rest.startswith(suffix_content + "s.") and rest.endswith(".text"):  # OpenInference contents.N.…text
            msg.setdefault("_parts", []).append(value)
    out = []
    for i in sorted(found):
        msg = found[i]
        if "content" not in msg and msg.get("_parts"):
            msg["content"] = joined([str(p) for p in msg["_parts"]])
        msg.pop("_parts", None)
        out.append(msg)
    return out


def _read(value: Any, *, default_role: str) -> Parts:
    parts = Parts()
    read_messages(value, parts, default_role=default_role)
    return parts


def _candidates(attrs: dict[str, Any]):
    """(source, input messages, system instructions, output messages) per convention, in precedence order."""
    yield ("langfuse", attrs.get("langfuse.observation.input"), None, attrs.get("langfuse.observation.output"))
    yield ("gen_ai", attrs.get("gen_ai.input.messages"), attrs.get("gen_ai.system_instructions"),
           attrs.get("gen_ai.output.messages"))
    yield ("gen_ai.legacy", _indexed(attrs, "gen_ai.prompt", "role", "content") or None, None,
           _indexed(attrs, "gen_ai.completion", "role", "content") or None)
    yield ("openinference", _indexed(attrs, "llm.input_messages", "message.role", "message.content") or None, None,
           _indexed(attrs, "llm.output_messages", "message.role", "message.content") or None)
    yield ("openinference.value", attrs.get("input.value"), None, attrs.get("output.value"))


def extract(attrs: dict[str, Any]) -> Extracted:
    """Prompt (user part), system part, response and model of an LLM span, by convention precedence."""
    prompt = system = response = None
    source = ""
    for name, inputs, instructions, outputs in _candidates(attrs):
        if prompt is None and inputs is not None:
            parts = _read(inputs, default_role="user")
            if instructions is not None:
                parts.system[:0] = _read(instructions, default_role="system").system
            if parts.user or parts.system:
                prompt, system, source = joined(parts.user), joined(parts.system), name
        if response is None and outputs is not None:
            out = _read(outputs, default_role="assistant")
            if out.assistant:
                response = joined(out.assistant)
        if prompt is not None and response is not None:
            break
    model = next((str(attrs[k]) for k in ("gen_ai.response.model", "gen_ai.request.model",
                                          "langfuse.observation.model.name", "llm.model_name")
                  if attrs.get(k)), None)
    return Extracted(prompt or "", system or "", response or "", model, source)


# --- From an export request to sample records ---------------------------------------------------------


@dataclass
class Mapped:
    records: list[SampleIn] = field(default_factory=list)
    ignored: int = 0  # spans that are not LLM calls
    rejected: list[str] = field(default_factory=list)  # one line per LLM span that could not be stored


def validate(records: list[dict], labels: list[str], *, default_model_version: str, max_batch: int,
             max_prompt_chars: int, max_response_chars: int) -> tuple[list[SampleIn], list[tuple[str, str]]]:
    """Validate records like the JSON API does; (valid records, (label, problem) per refused one)."""
    accepted: list[SampleIn] = []
    refused: list[tuple[str, str]] = []
    for start in range(0, len(records), max_batch):
        chunk = list(zip(records[start:start + max_batch], labels[start:start + max_batch]))
        while chunk:
            try:
                parsed, _ = parse_samples([r for r, _ in chunk], default_model_version=default_model_version,
                                          max_batch=max_batch, max_prompt_chars=max_prompt_chars,
                                          max_response_chars=max_response_chars)
            except PayloadInvalid as exc:
                bad = {p.index for p in exc.problems}
                for p in exc.problems:
                    # One line per refused record: its first problem.
                    if p.index is not None and p.index < len(chunk) and not any(
                            q.index == p.index for q in exc.problems[:exc.problems.index(p)]):
                        refused.append((chunk[p.index][1], f"{p.field} {p.problem}"))
                if None in bad:  # a whole-batch problem cannot happen here; stop rather than loop
                    refused.extend((label, str(exc)) for _, label in chunk)
                    break
                chunk = [c for i, c in enumerate(chunk) if i not in bad]
                continue
            accepted.extend(parsed)
            break
    return accepted, refused


def _moment(nanos: int) -> dt.datetime | None:
    try:
        return _EPOCH + dt.timedelta(microseconds=nanos // 1000)
    except OverflowError:
        return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def span_sample(*, trace_id: str, span_id: str, attrs: dict[str, Any], end_nanos: int, name: str,
                service: str | None, default_model_version: str, max_prompt_chars: int,
                max_response_chars: int) -> tuple[SampleIn | None, str | None]:
    """(the sample of one LLM span, None) or (None, its first problem in words).

    The same checks as the JSON API's `parse_samples` on the same fields (required, text, length, time), made
    directly on the span's values: going through a JSON-shaped record and parsing it back (an ISO time string
    written and read again, a recursive walk of metadata whose shape is fixed here) cost more than the rest
    of the conversion (bench/ingest.py, otlp_spans_per_s).
    """
    ex = extract(attrs)
    prompt, problem = checked_text(ex.prompt, "prompt", max_chars=max_prompt_chars)
    if problem:
        return None, problem
    response, problem = checked_text(ex.response, "response", max_chars=max_response_chars, allow_empty=True)
    if problem:
        return None, problem
    system, problem = checked_text(ex.prompt_system, "prompt_system", max_chars=max_prompt_chars, allow_empty=True)
    if problem:
        return None, problem
    model_version, problem = checked_text(ex.model[:200] if ex.model else default_model_version, "model_version",
                                          max_chars=200)
    if problem:
        return None, problem
    when = _moment(end_nanos) if end_nanos else None
    if when is None:
        return None, "timestamp is required: the span has no end or start time" if not end_nanos \
            else "timestamp falls outside the years 1 to 9999 in UTC"
    metadata = {k: v for k, v in {"source": f"otlp/{ex.source or 'unknown'}", "trace_id": trace_id,
                                  "span_id": span_id, "span_name": name[:200], "service_name": service}.items()
                if v}
    for key, value in metadata.items():
        problem = text_problem(value)
        if problem:
            return None, f"metadata.{key} {problem}"
    return SampleIn(f"{trace_id}:{span_id}", prompt, response, model_version, when, metadata, {}, system), None


def map_request(request: ExportTraceServiceRequest, *, default_model_version: str, max_batch: int,
                max_prompt_chars: int, max_response_chars: int) -> Mapped:
    """The LLM spans of an export request as samples (one per span id; a repeated span id keeps the first)."""
    out = Mapped()
    seen: set[str] = set()
    limits = dict(default_model_version=default_model_version, max_prompt_chars=max_prompt_chars,
                  max_response_chars=max_response_chars)
    for resource_spans in request.resource_spans:
        service = None
        for kv in resource_spans.resource.attributes:
            if kv.key == "service.name":
                service = str(any_value(kv.value))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                if not is_llm_span(attrs):
                    out.ignored += 1
                    continue
                raw_trace, raw_span = span.trace_id, span.span_id
                span_id = raw_span.hex()
                label = f"span {span_id or '(no id)'}"
                if len(raw_trace) != 16 or len(raw_span) != 8:
                    out.rejected.append(f"{label}: trace_id must be 16 bytes and span_id 8 bytes")
                    continue
                trace_id = raw_trace.hex()
                sample, problem = span_sample(trace_id=trace_id, span_id=span_id, attrs=attrs,
                                              end_nanos=span.end_time_unix_nano or span.start_time_unix_nano,
                                              name=span.name, service=service, **limits)
                if problem:
                    out.rejected.append(f"{label}: {problem}")
                elif sample.external_id in seen:
                    out.rejected.append(f"{label}: external_id duplicates another span of this request")
                else:
                    seen.add(sample.external_id)
                    out.records.append(sample)
    return out
