"""manage.py golden_eval <deployment-slug> [--model-version V] [--answers FILE.jsonl] [--queue]

Evaluates the latest golden-set version now: through the deployment's endpoint, or with answers
from a JSONL file of {"golden_item_id": 12, "answer": "..."} lines. Prints the run as one JSON line.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from drift_app.models import Deployment
from goldenset import services
from goldenset.models import EvalRun


class Command(BaseCommand):
    help = "Evaluate a deployment's model version on the golden set now."

    def add_arguments(self, parser):
        parser.add_argument("deployment", help="deployment slug")
        parser.add_argument("--model-version", default=None)
        parser.add_argument("--answers", default=None, help="JSONL file of uploaded answers")
        parser.add_argument("--queue", action="store_true", help="queue the run on a worker instead of running here")

    def handle(self, *args, deployment, model_version, answers, queue, **options):
        dep = Deployment.objects.filter(slug=deployment).first()
        if dep is None:
            raise CommandError(f"No deployment with slug {deployment!r}.")
        uploaded = None
        if answers:
            uploaded = {}
            try:
                with open(answers, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, start=1):
                        if line.strip():
                            rec = json.loads(line)
                            uploaded[int(rec["golden_item_id"])] = rec["answer"]
            except OSError as exc:
                raise CommandError(f"Cannot read {answers}: {exc}") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"{answers}, line {n}: expected {{\"golden_item_id\", \"answer\"}}: {exc}") from None
        try:
            run = services.eval_run_create(deployment=dep, model_version=model_version, answers=uploaded,
                                           trigger=EvalRun.Trigger.COMMAND, queue=queue)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if not queue:
            run = services.eval_run_execute(run=run)
        self.stdout.write(json.dumps({
            "run": run.pk, "status": run.status, "model_version": run.model_version,
            "golden_version": run.golden_version.number, "pass_rate": run.pass_rate,
            "category_pass_rates": run.category_pass_rates, "relative_drop_pct": run.relative_drop_pct,
            "regressed": run.regressed_count, "errored": run.errored_count, "is_baseline": run.is_baseline,
        }))
