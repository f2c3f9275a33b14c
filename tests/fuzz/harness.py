"""Schemathesis against the project's own OpenAPI schema, in process (WSGI), for several roles.

Used by tests/fuzz/test_api_fuzz.py (bounded, inside `make test`) and by `make fuzz` (long run,
prints the figures). Checks: no 5xx (schemathesis' not_a_server_error) and responses that conform to
the schema where the schema documents the status (response_schema_conformance).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

# Roles fuzzed: every role with API access (alice power_user, bob sme, charlie compliance, erin ml_engineer).
FUZZ_PERSONAS = ("alice", "bob", "charlie", "erin")


@dataclass
class FuzzStats:
    requests: int = 0
    server_errors: int = 0
    nonconforming: int = 0
    errors: int = 0  # requests that could not be sent at all (not counted in `requests`)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "server_errors": self.server_errors, "schema_mismatches": self.nonconforming,
                "unsendable": self.errors,
                "statuses": dict(sorted(self.statuses.items())), "failures": self.failures[:20]}


def load_schema():
    """The schema drf-spectacular serves at /api/schema/, built in process, with the WSGI app attached."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator

    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    return schema


def operations(schema) -> list:
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        # The schema and docs endpoints are drf-spectacular's, not ours.
        if not op.path.startswith("/api/schema"):
            ops.append(op)
    return ops


def fuzz(*, schema, tokens: dict[str, str], examples: int, seed: int = 0, stats: FuzzStats | None = None) -> FuzzStats:
    """Send `examples` generated requests per persona, each to a randomly drawn operation."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    stats = stats or FuzzStats()
    ops = operations(schema)
    strategies = {op.label: op.as_strategy() for op in ops}

    for index, (persona, token) in enumerate(tokens.items()):
        headers = {"Authorization": f"Token {token}"}

        @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=["generate"])
        @given(data=st.data())
        def one(data):
            op = data.draw(st.sampled_from(ops))
            case = data.draw(strategies[op.label])
            # The schema declares the token scheme, so schemathesis may generate an Authorization header of its
            # own (a random key); the persona's real token replaces it, or every request would be a 401.
            for name in [h for h in case.headers if h.lower() == "authorization"]:
                del case.headers[name]
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # noqa: BLE001 - e.g. a request the transport cannot send; reported
                stats.errors += 1
                stats.failures.append(f"{persona} {case.method} {case.path} -> {type(exc).__name__}: {str(exc)[:200]}")
                return
            stats.requests += 1
            stats.statuses[response.status_code] += 1
            label = f"{persona} {case.method} {case.path}"
            if response.status_code >= 500:
                stats.server_errors += 1
                stats.failures.append(f"{label} -> {response.status_code}: {response.text[:300]}")
                return
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises a FailureGroup; counted, the run goes on
                stats.nonconforming += 1
                detail = " ".join(line.strip() for line in str(exc).splitlines()[:6] if line.strip())
                stats.failures.append(f"{label} -> {response.status_code}: {detail[:400]}")

        from hypothesis import seed as hseed

        hseed(seed + index)(one)()  # each role its own sequence of generated requests
    return stats


def seed_world():
    """Some data for the fuzzer to find: a deployment with samples, golden items, a flag."""
    from drift_app import services as drift_services
    from drift_app.validation import SampleIn
    from django.utils import timezone
    from feedback import services as feedback_services
    from goldenset import services as golden_services
    from tests import factories

    deployment = factories.deployment(slug="fuzz")
    from django.contrib.auth.models import User

    bob, alice = User.objects.get(username="bob"), User.objects.get(username="alice")
    now = timezone.now()
    result = drift_services.samples_ingest(deployment=deployment, records=[
        SampleIn(f"f-{i}", f"prompt {i}", f"answer {i}", "v1", now) for i in range(5)])
    golden_services.golden_item_create(author=bob, prompt="What is the Pro price?", reference_answer="$49",
                                       category="billing", reason="fuzz")
    from drift_app.models import ProductionSample

    feedback_services.flag_create(sample=ProductionSample.objects.get(id=result.samples[0].id), user=alice,
                                  reason="incorrect", comment="")
    return deployment


def examples_from_env(default: int) -> int:
    return int(os.environ.get("DRIFTDESK_FUZZ_EXAMPLES", default))
