"""Fit a baseline now: `manage.py drift_baseline acme-support --start 2026-10-01 --end 2026-10-22`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from drift_app import services
from drift_app.management.commands.drift_run import _when
from drift_app.models import Deployment


class Command(BaseCommand):
    help = "Create and fit a deployment's baseline from the embedded samples of a period."

    def add_arguments(self, parser):
        parser.add_argument("deployment")
        parser.add_argument("--start", required=True)
        parser.add_argument("--end", required=True)
        parser.add_argument("--max-samples", type=int, default=50_000)

    def handle(self, *args, deployment: str, start: str, end: str, max_samples: int, **options):
        dep = Deployment.objects.filter(slug=deployment).first()
        if dep is None:
            raise CommandError(f"no deployment with slug {deployment!r}")
        try:
            # Fitted right here, not on a worker.
            baseline = services.baseline_create(
                deployment=dep, period_start=_when(start, "start"), period_end=_when(end, "end"),
                max_samples=max_samples, enqueue=False,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        baseline = services.baseline_fit(baseline=baseline)
        self.stdout.write(f"baseline {baseline.id}: {baseline.status}, {baseline.sample_count} samples {baseline.error}")
