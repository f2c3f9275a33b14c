"""Evaluate drift for one window now: `manage.py drift_run acme-support --start 2026-11-01 --end 2026-11-08`.

Without --start/--end, the deployment's last complete window (hourly, daily or weekly).
Runs in this process (no worker needed) unless --queue is given.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from drift_app import services
from drift_app.models import Deployment, DriftRun


def _when(raw: str, name: str):
    value = parse_datetime(raw)
    if value is None and (d := parse_date(raw)) is not None:
        value = timezone.datetime(d.year, d.month, d.day)
    if value is None:
        raise CommandError(f"--{name}: not an ISO 8601 date or date-time: {raw!r}")
    return value if value.tzinfo else timezone.make_aware(value, timezone.utc)


class Command(BaseCommand):
    help = "Run drift statistics on one window of a deployment and print the results."

    def add_arguments(self, parser):
        parser.add_argument("deployment", help="deployment slug")
        parser.add_argument("--start")
        parser.add_argument("--end")
        parser.add_argument("--target", choices=["prompts", "responses", "both"], default="both")
        parser.add_argument("--queue", action="store_true", help="queue on the Celery workers instead")

    def handle(self, *args, deployment: str, start, end, target: str, queue: bool, **options):
        dep = Deployment.objects.filter(slug=deployment).first()
        if dep is None:
            raise CommandError(f"no deployment with slug {deployment!r}")
        if bool(start) != bool(end):
            raise CommandError("give both --start and --end, or neither")
        if start:
            window = (_when(start, "start"), _when(end, "end"))
        else:
            window = services.last_complete_window(deployment=dep, now=timezone.now())
        targets = ("prompts", "responses") if target == "both" else (target,)
        try:
            if queue:
                runs = services.drift_runs_create(deployment=dep, window_start=window[0], window_end=window[1],
                                                  targets=targets, trigger=DriftRun.Trigger.COMMAND)
                self.stdout.write(f"queued runs {[r.id for r in runs]}")
                return
            runs = services.drift_runs_create(deployment=dep, window_start=window[0], window_end=window[1],
                                              targets=targets, trigger=DriftRun.Trigger.COMMAND, enqueue=False)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        for run in runs:
            run = services.drift_run_compute(run=run)
            self.stdout.write(json.dumps({
                "id": run.id, "target": run.target, "status": run.status, "samples": run.sample_count,
                "drifted": run.drifted, "js": run.js, "js_threshold": run.js_threshold,
                "novel_share": run.novel_share, "mmd_p_value": run.mmd_p_value,
                "topics": [t["keywords"][:5] for t in run.topics], "error": run.error,
            }))
