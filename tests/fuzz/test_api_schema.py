"""The OpenAPI schema tells the truth about the API: it generates without a warning and validates.

drf-spectacular warns when two components share a name (one silently replaces the other: the fuzzer then
checks responses against the wrong shape), when operation ids collide, or when an authenticator is unknown.
"""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(the schema, the command's failure or None): generated once for the module."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    except CommandError as exc:  # the warnings themselves went to stderr
        return None, str(exc)
    return yaml.safe_load(path.read_text()), None


def test_the_schema_generates_without_warnings_and_validates(generated):
    _, failure = generated
    assert failure is None, f"drf-spectacular: {failure} (the warnings are in the captured stderr)"


def test_a_flags_author_sees_a_flag_the_schema_allows_without_the_smes_working_notes(generated):
    schema, _ = generated
    flag = schema["components"]["schemas"]["FlagDetailOutput"]
    for key in ("labels", "adjudication", "claimed_by", "claimed_until"):
        assert key in flag["properties"]
        assert key not in flag["required"]


def test_each_view_has_its_own_input_and_output_components(generated):
    schemas = generated[0]["components"]["schemas"]
    assert {"Input", "Output"}.isdisjoint(schemas)
    assert {"ReportGenerateInput", "VerdictComputeInput", "AlertActionInput", "ReportVerifyOutput",
            "AuditVerifyOutput"} <= set(schemas)


@pytest.mark.django_db(transaction=True)  # the schema calls the WSGI app, which closes connections per request
def test_feedback_metrics_answer_the_object_the_schema_documents(personas):
    """`make fuzz` (20,000 requests) found the schema documenting a bare array for this object."""
    from schemathesis.specs.openapi.checks import response_schema_conformance

    from tests import factories
    from tests.fuzz.harness import load_schema

    deployment = factories.deployment()
    response = personas.api("charlie").get(f"/api/v1/deployments/{deployment.slug}/feedback-metrics")
    assert response.status_code == 200 and isinstance(response.json()["windows"], list)
    operation = load_schema().find_operation_by_path("GET", f"/api/v1/deployments/{deployment.slug}/feedback-metrics")
    case = operation.Case(path_parameters={"slug": deployment.slug})
    schema_response = case.call(headers={"Authorization": f"Token {personas.token('charlie')}"})
    assert schema_response.status_code == 200
    case.validate_response(schema_response, checks=[response_schema_conformance])
