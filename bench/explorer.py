"""Sample explorer benchmark: the "Find answers" page (full-text search + filters + counts) over real texts.

    .venv/bin/python bench/explorer.py [--copies N] [--keep]

Prompts are the 23,700 CLINC150 queries (/work/shared/data/clinc150, CC BY 3.0), answers the 560 Vicuna-bench
answers of seven models (/work/shared/data/vicuna_bench, Apache-2.0) cycled; `--copies` repeats the prompts at
later timestamps (default 4: 94,800 samples). Two model versions; 2% of samples flagged.

Set-up (not timed): a scratch database `driftdesk_bench_explorer`, migrated (so the GIN index of migration
drift_app.0011 exists while rows go in), VACUUM ANALYZE; one power user in the team owning the deployment.

Timed: GET /feedback/answers/ through Django's test client as that user, i.e. the team scope, the
django-filter FilterSet, the paginator's COUNT and the rendered page of 50 rows, for 30 searches (words of
the CLINC *test* split, which the loaded texts share) alone and combined with filters. Prints ONE JSON line:
p50/p95/max milliseconds per query kind and whether the plan uses the index. No target in issue 18;
the figures are what this (shared, loaded) machine measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("DRIFTDESK_SHARED_DATA", "/work/shared/data"))
DB_NAME = "driftdesk_bench_explorer"
START = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def texts() -> tuple[list[str], list[str], list[str]]:
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    prompts = [t for split in ("train", "val", "oos_train", "oos_val", "test", "oos_test") for t, _ in clinc[split]]
    answers = []
    for f in sorted((DATA / "vicuna_bench" / "answer").glob("answer_*.jsonl")):
        answers += [json.loads(line)["text"] for line in f.read_text().splitlines() if line.strip()]
    words = []
    for t, _ in clinc["test"][::150]:
        w = max(t.split(), key=len)
        if len(w) > 4 and w not in words:
            words.append(w)
    return prompts, answers, words[:30]


def populate(copies: int, prompts: list[str], answers: list[str]):
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from drift_app.models import Deployment, ProductionSample, Team, TeamMembership
    from feedback.models import Flag

    team = Team.objects.create(name="Bench", slug="bench")
    deployment = Deployment.objects.create(name="Bench bot", slug="bench-bot", current_model_version="v2", team=team)
    user = User.objects.create_user("bench-power-user")
    TeamMembership.objects.create(user=user, team=team, role="power_user")
    user.groups.add(Group.objects.get_or_create(name="power_user")[0])
    n = 0
    for c in range(copies):
        rows = [ProductionSample(
            deployment=deployment, external_id=f"c{c}-{i}", prompt=p, response=answers[(i + c) % len(answers)],
            model_version="v1" if i % 2 else "v2", client_timestamp=START + dt.timedelta(minutes=n + i))
            for i, p in enumerate(prompts)]
        ProductionSample.objects.bulk_create(rows, batch_size=5000)
        n += len(rows)
        print(f"  {n} samples", file=sys.stderr, flush=True)
    ids = list(ProductionSample.objects.filter(deployment=deployment).values_list("id", flat=True)[::50])
    Flag.objects.bulk_create([Flag(sample_id=i, deployment=deployment, flagged_by=user, reason="incorrect")
                              for i in ids])
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return user, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import emit, log, scratch_database, setup_django, start_redis

    prompts, answers, words = texts()
    from drift_app import embedded_pg

    # The server's own URL, kept to drop the scratch database at the end (setup_django replaces DATABASE_URL).
    server = os.environ.get("DATABASE_URL") or embedded_pg.ensure_running()
    redis, broker = start_redis()
    try:
        log(f"scratch database {DB_NAME}: creating and migrating")
        url = scratch_database(DB_NAME)
        setup_django(url, broker)
        from django.conf import settings
        from django.db import connection
        from django.test import Client

        from drift_app.models import ProductionSample
        from feedback.filters import SEARCH_VECTOR

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        user, total = populate(args.copies, prompts, answers)
        client = Client()
        client.force_login(user)
        kinds = {
            "search": lambda w: {"q": w},
            "search+version+unflagged": lambda w: {"q": w, "model_version": "v2", "flags": "unflagged"},
            "search+dates+page3": lambda w: {"q": w, "served_after": "2026-06-05", "served_before": "2026-08-30",
                                             "page": "3"},
            "no search, flagged": lambda w: {"flags": "flagged"},
        }
        client.get("/feedback/answers/", {"q": "warm"})
        out = {"bench": "explorer", "samples": total, "queries_per_kind": len(words),
               "machine": f"shared 2-core VM, load average {os.getloadavg()[0]:.1f} at start"}
        for kind, params in kinds.items():
            ms, hits = [], []
            for w in words:
                t0 = time.perf_counter()
                r = client.get("/feedback/answers/", params(w))
                ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (kind, w, r.status_code)
                found = re.search(r"of (\d+) answers", r.content.decode())
                hits.append(int(found.group(1)) if found else 0)
            ms.sort()
            out[kind] = {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
                         "max_ms": round(ms[-1], 1), "median_matches": statistics.median(hits)}
            log(f"{kind}: {out[kind]}")
        qs = ProductionSample.objects.annotate(search=SEARCH_VECTOR).filter(search=words[0]).only("id")
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute("EXPLAIN " + sql, params)
            out["index_used"] = "sample_fulltext" in "\n".join(r[0] for r in cur.fetchall())
        out["machine"] += f", {os.getloadavg()[0]:.1f} at end"
        emit(out)
    finally:
        redis.terminate()
        if not args.keep:
            import psycopg
            from django.db import connections

            connections.close_all()
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

if __name__ == "__main__":
    main()
