"""`audit_verify` passes on a freshly built demo database and names the event altered afterwards as the table owner
(issue 14, "Done when"). The data is the demo's own: golden set curated by two SMEs and evaluated three times
(real encoder) and a flag; `make demo` itself is not run (it starts servers on shared ports). The report's
chain head is tested in test_reports.py (rendering a PDF here would double this test's time).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from compliance import audit, chain
from compliance.models import AuditEvent
from demo import golden as demo_golden
from feedback import services as feedback_services
from goldenset.models import GoldenItem
from tests import factories
from tests.base import as_owner

pytestmark = pytest.mark.django_db
TABLE = "compliance_auditevent"


def test_audit_verify_passes_on_the_demo_and_fails_after_an_owner_alters_an_event(personas, capsys):
    deployment = factories.deployment(slug="acme-support", name="Acme Cloud support assistant")
    users = {"sme": [personas.bob, personas.carol], "power_user": [personas.alice],
             "compliance": [personas.charlie], "ml_engineer": [personas.erin]}
    now = timezone.now()
    with audit.acting_as(personas.erin, source="system"):
        demo_golden.load_demo(deployment=deployment, users=users, timeline={
            "v1": now - dt.timedelta(days=20), "v2": now - dt.timedelta(days=6), "v3": now - dt.timedelta(days=1)})
        feedback_services.flag_create(sample=factories.sample(deployment), user=personas.alice, reason="incorrect")
    assert GoldenItem.objects.filter(team=deployment.team).count() >= 100

    call_command("audit_verify")
    verified = json.loads(capsys.readouterr().out)
    events = AuditEvent.objects.count()
    assert verified["ok"] is True and verified["events"] == events and events > 100

    victim = AuditEvent.objects.filter(object_type="goldenset.GoldenItem", action="update").order_by("id")[10].pk
    with as_owner(), connection.cursor() as cursor:  # what only the table owner can do
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_no_update_delete")
        cursor.execute(f"UPDATE {TABLE} SET actor_username = 'somebody-else' WHERE id = %s", [victim])
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_no_update_delete")
    with pytest.raises(CommandError, match=f"broken at event {victim}"):
        call_command("audit_verify")
    assert chain.verify().first_broken_id == victim
