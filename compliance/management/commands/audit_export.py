"""Export the audit trail as CSV: `manage.py audit_export --deployment acme --start 2026-03-01 > audit.csv`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from drift_app.models import Deployment

from ... import forms, selectors, services


class Command(BaseCommand):
    help = "Write the (filtered) audit trail to stdout as CSV."

    def add_arguments(self, parser):
        for name in ("actor", "object_type", "action", "deployment", "object_id", "start", "end"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default="")

    def handle(self, *args, **opts):
        try:
            filters = forms.audit_filters(opts, deployment_lookup=lambda s: Deployment.objects.filter(slug=s).first())
        except ValidationError as exc:
            raise CommandError(forms.error_text(exc)) from None
        self.stdout.write(services.audit_export_csv(events=selectors.audit_event_list(**filters)), ending="")
