"""Verify the audit trail's hash chain: `manage.py audit_verify` (exit status 1 and the first broken link)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ... import chain


class Command(BaseCommand):
    help = "Recompute every link of the audit trail's hash chain and report the first broken one."

    def handle(self, *args, **opts):
        result = chain.verify()
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.ok:
            raise CommandError(f"audit trail broken at event {result.first_broken_id}: {result.problem}")
