"""Events the issue names beyond object edits: evaluation runs (who, configuration, result) and flags (issue 14)."""

from __future__ import annotations

import pytest

from compliance import audit
from compliance.models import AuditEvent
from feedback import services as feedback_services
from goldenset import services as golden_services
from tests import factories

pytestmark = pytest.mark.django_db


def test_an_evaluation_run_records_who_started_it_its_configuration_and_its_result(personas):
    from tests.goldenset.conftest import approve, make_item

    deployment = factories.deployment()
    item = make_item(personas.bob)
    approve(item, author=personas.bob, approver=personas.carol)
    with audit.acting_as(personas.erin, source="api"):
        run = golden_services.eval_run_create(deployment=deployment, answers={item.pk: "The Pro plan costs $49 per month."},
                                              queue=False)
    golden_services.eval_run_execute(run=run)
    events = list(AuditEvent.objects.filter(object_type="goldenset.EvalRun", object_id=str(run.pk)).order_by("id"))
    assert events[0].action == "create" and events[0].actor_username == "erin"
    assert events[0].after["similarity_threshold"] == run.similarity_threshold
    result = [e for e in events if e.action == "update" and (e.after or {}).get("status") == "succeeded"]
    assert len(result) == 1 and result[0].after["pass_rate"] == 1.0


def test_a_flag_is_an_event_of_its_deployment(personas):
    deployment = factories.deployment()
    flag = feedback_services.flag_create(sample=factories.sample(deployment), user=personas.alice, reason="incorrect")
    event = AuditEvent.objects.get(object_type="feedback.Flag", object_id=str(flag.pk), action="create")
    assert event.deployment_id == deployment.pk and event.after["reason"] == "incorrect"
