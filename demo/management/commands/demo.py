"""Load the demo scenario: one user per role, the Acme support deployment, eight weeks of traffic.

Samples go through the real pipeline: the ingestion service stores them and queues embedding tasks
for the Celery worker (`make demo` starts it). With --embed-inline the command embeds in-process.
"""

from __future__ import annotations

import secrets
import time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from demo import generator as demo
from drift_app import services
from drift_app.models import Deployment, ProductionSample

DEMO_USERS = {
    "power_user": ["pat"],
    "sme": ["sam", "sasha"],
    "compliance": ["cora"],
    "ml_engineer": ["mel"],
}
SLUG = "acme-support"


class Command(BaseCommand):
    help = "Create demo users (new passwords each run) and load the Acme support demo scenario once."

    def add_arguments(self, parser):
        parser.add_argument("--per-week", type=int, default=500)
        parser.add_argument("--embed-inline", action="store_true", help="Embed in this process, not on a worker.")
        parser.add_argument("--wait", type=int, default=900, help="Seconds to wait for the worker to embed.")

    def handle(self, *args, per_week: int, embed_inline: bool, wait: int, **options):
        users = self._users()
        if Deployment.objects.filter(slug=SLUG).exists():
            # Evidence (flags, golden items, the audit trail) is deliberately hard to delete, so a
            # reload starts from an empty database instead: `make demo-reset`.
            self.stdout.write(self.style.WARNING(
                f"The demo deployment {SLUG!r} is already loaded; passwords above were reset. "
                "To load it afresh: make demo-reset"
            ))
            return
        deployment = self._deployment()
        timeline = demo.default_timeline(timezone.now())
        records = demo.generate_samples(timeline=timeline, per_week=per_week)
        for start in range(0, len(records), 1000):
            with transaction.atomic():
                services.samples_ingest(deployment=deployment, records=records[start : start + 1000])
        self.stdout.write(f"Ingested {len(records)} samples for {deployment.slug}.")
        self._embed(deployment, inline=embed_inline, wait=wait)
        self._extensions(deployment, users, timeline)
        self.stdout.write(self.style.SUCCESS("Demo scenario loaded."))

    def _users(self) -> dict[str, list[User]]:
        out: dict[str, list[User]] = {}
        lines = []
        for role, names in DEMO_USERS.items():
            group = Group.objects.get(name=role)
            for name in names:
                password = secrets.token_urlsafe(9)
                user, _ = User.objects.get_or_create(username=name, defaults={"email": f"{name}@acme.example"})
                user.set_password(password)
                user.save()
                user.groups.set([group])
                services.team_membership_add(user=user, role=role)
                out.setdefault(role, []).append(user)
                lines.append(f"  {name:<8} {role:<12} {password}")
        self.stdout.write("Demo users (username, role, password):\n" + "\n".join(lines))
        return out

    def _deployment(self) -> Deployment:
        return services.deployment_create(
            name="Acme Cloud support assistant", slug=SLUG, current_model_version="v3",
            description="Fine-tuned assistant answering customer questions about Acme Cloud (demo data).",
            drift_window=Deployment.Window.WEEKLY,
        )

    def _embed(self, deployment: Deployment, *, inline: bool, wait: int) -> None:
        pending = ProductionSample.objects.filter(deployment=deployment, prompt_embedding__isnull=True)
        if inline:
            ids = list(pending.values_list("id", flat=True))
            for start in range(0, len(ids), 1000):
                services.samples_embed(sample_ids=ids[start : start + 1000])
        deadline = time.time() + wait
        total = ProductionSample.objects.filter(deployment=deployment).count()
        last = -1
        while (left := pending.count()) > 0:
            if time.time() > deadline:
                raise CommandError(
                    f"{left} of {total} samples still have no vector after {wait} s: is the Celery worker running? "
                    "(make demo starts it; see var/log/worker.log) or use --embed-inline."
                )
            if left != last:
                self.stdout.write(f"Waiting for the worker to embed: {total - left}/{total} done")
                last = left
            time.sleep(3)
        self.stdout.write(f"All {total} samples embedded.")

    def _extensions(self, deployment, users, timeline) -> None:
        """Drift runs, golden set, feedback: each feature adds its part of the scenario."""
        from demo import steps as demo_steps

        demo_steps.run(deployment=deployment, users=users, timeline=timeline, stdout=self.stdout)
