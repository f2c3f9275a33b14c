"""Retention by month: `manage.py drop_sample_months --older-than-months 13`.

Drops every month of samples (all deployments) that ended before the first day of the month N months
ago, as whole partitions; evidence (flagged or promoted samples, golden-item sources, active baselines'
samples) is carried over. The daily beat does the same when DRIFTDESK_SAMPLE_RETENTION_MONTHS is set.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from drift_app import partitions, services


class Command(BaseCommand):
    help = "Drop whole months of samples older than N months, keeping every sample that is evidence."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-months", type=int, required=True)

    def handle(self, *args, older_than_months: int, **options):
        if older_than_months < 1:
            raise CommandError("--older-than-months must be at least 1")
        cutoff = partitions.month_start(timezone.now())
        for _ in range(older_than_months):
            cutoff = partitions.previous_month(cutoff)
        for month in services.samples_drop_months(before=cutoff):
            self.stdout.write(f"dropped {month.month:%Y-%m}: {month.dropped} samples, {month.kept} evidence samples kept")
