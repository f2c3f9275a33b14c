"""Create the owner and runtime database roles and apply least privileges (drift_app/dbroles.py)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand
from django.db import connection

from drift_app.dbroles import roles_sql


class Command(BaseCommand):
    help = ("Create the owner role (owns every table, runs migrations) and the runtime role (owns nothing; "
            "INSERT/SELECT only on the audit tables), and grant. Run as a superuser after `migrate`.")

    def add_arguments(self, parser):
        parser.add_argument("--owner", default=os.environ.get("DRIFTDESK_DB_OWNER_ROLE", "driftdesk_owner"))
        parser.add_argument("--runtime", default=os.environ.get("DRIFTDESK_DB_RUNTIME_ROLE", "driftdesk_app"))
        parser.add_argument("--print-sql", action="store_true", help="print the SQL instead of running it")

    def handle(self, *args, owner: str, runtime: str, print_sql: bool, **options):
        # Passwords come from the environment only (never arguments: they would show in `ps`).
        sql = roles_sql(owner=owner, runtime=runtime, runtime_password=os.environ.get("DRIFTDESK_DB_RUNTIME_PASSWORD"),
                        owner_password=os.environ.get("DRIFTDESK_DB_OWNER_PASSWORD"))
        if print_sql:
            self.stdout.write(sql)
            return
        with connection.cursor() as cursor:
            cursor.execute(sql)
        self.stdout.write(f"roles {owner} (owner) and {runtime} (runtime) ready on {connection.settings_dict['NAME']}")
