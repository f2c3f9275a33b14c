"""Retention: `manage.py purge_samples acme-support --older-than-days 365`.

Evidence (flagged or promoted samples, golden-item sources, the active baseline) is always kept.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from drift_app import services
from drift_app.models import Deployment


class Command(BaseCommand):
    help = "Delete samples older than N days, keeping every sample that is evidence."

    def add_arguments(self, parser):
        parser.add_argument("deployment")
        parser.add_argument("--older-than-days", type=int, required=True)

    def handle(self, *args, deployment: str, older_than_days: int, **options):
        dep = Deployment.objects.filter(slug=deployment).first()
        if dep is None:
            raise CommandError(f"no deployment with slug {deployment!r}")
        if older_than_days < 1:
            raise CommandError("--older-than-days must be at least 1")
        n = services.samples_purge(deployment=dep, before=timezone.now() - dt.timedelta(days=older_than_days))
        self.stdout.write(f"deleted {n} samples of {dep.slug}")
