"""Verify a stored report against its hashes and the database: `manage.py compliance_verify 12`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ... import services
from ...models import ComplianceReport


class Command(BaseCommand):
    help = "Recompute a stored report's figures and compare them (and the PDF) with what was stored."

    def add_arguments(self, parser):
        parser.add_argument("report_id", type=int)

    def handle(self, *args, **opts):
        report = ComplianceReport.objects.filter(pk=opts["report_id"]).select_related("deployment").first()
        if report is None:
            raise CommandError(f"No compliance report #{opts['report_id']}.")
        result = services.report_verify(report=report)
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.ok:
            raise CommandError(f"report {report.pk} does not verify: {len(result.differences)} difference(s)")
