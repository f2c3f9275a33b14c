"""Generate a degradation report: `manage.py compliance_report acme --month 2026-03 [--as charlie]`."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from drift_app.models import Deployment

from ... import audit, forms, services
from ...models import ComplianceReport


class Command(BaseCommand):
    help = "Generate and store the degradation report of a deployment for a month or a period."

    def add_arguments(self, parser):
        parser.add_argument("deployment", help="deployment slug")
        parser.add_argument("--month", default="", help="2026-03 (UTC calendar month)")
        parser.add_argument("--start", default="", help="2026-03-01 or an ISO 8601 instant")
        parser.add_argument("--end", default="", help="excluded")
        parser.add_argument("--as", dest="username", default="", help="user recorded as the generator")
        parser.add_argument("--pdf", default="", help="also write the PDF to this path")

    def handle(self, *args, **opts):
        deployment = Deployment.objects.filter(slug=opts["deployment"]).first()
        if deployment is None:
            raise CommandError(f"No deployment with slug {opts['deployment']!r}.")
        user = None
        if opts["username"]:
            user = User.objects.filter(username=opts["username"]).first()
            if user is None:
                raise CommandError(f"No user {opts['username']!r}.")
        try:
            start, end = forms.parse_period(month=opts["month"], start=opts["start"], end=opts["end"])
            with audit.acting_as(user):
                report = services.report_generate(deployment=deployment, start=start, end=end, user=user,
                                                  trigger=ComplianceReport.Trigger.COMMAND)
        except ValidationError as exc:
            raise CommandError(forms.error_text(exc)) from None
        if opts["pdf"]:
            with open(opts["pdf"], "wb") as fh:
                fh.write(bytes(report.pdf))
        self.stdout.write(f"report {report.pk}: {report.figures['material_degradation']['headline']}")
        self.stdout.write(f"figures sha256 {report.figures_sha256}\npdf sha256 {report.pdf_sha256}")
