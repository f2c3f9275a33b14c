"""The production stack (docker/compose.yaml) built and run on this machine, end to end over HTTP.

Skipped, with the reason, where Docker cannot run; under CI=true it must run, so it fails instead.
The images are built once per machine and cached (base images, Docker's layer cache); the stack
itself is fresh for every run and torn down with its volumes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy import stack as deploy
from tests.unavailable import outside_the_project

pytestmark = pytest.mark.deploy

CLINC = Path(__file__).resolve().parents[3] / "shared" / "data" / "clinc150" / "data_full.json"
if not CLINC.exists():
    CLINC = Path("/work/shared/data/clinc150/data_full.json")


def _require_docker() -> None:
    reason = deploy.unavailable_reason()
    if reason:
        # A developer machine without Docker Engine (or not root).
        outside_the_project(f"no usable Docker Engine on this machine ({reason})")


@pytest.fixture(scope="module")
def stack():
    _require_docker()
    seconds = deploy.build()
    deploy.log(f"images ready in {seconds:.0f} s")
    workdir = Path(tempfile.mkdtemp(prefix="driftdesk-deploy-"))
    running = deploy.Stack(
        project=f"ddtest{os.getpid()}", workdir=workdir,
        # Short enough that a killed worker's task comes back within the test; longer than a task.
        extra_env={"CELERY_VISIBILITY_TIMEOUT": "30", "DRIFTDESK_BEAT_LOCK_SECONDS": "15"},
    )
    try:
        started = time.monotonic()
        running.up()
        _wait(lambda: _get(running, "/readyz")[0] == 200, seconds=240, what="/readyz")
        deploy.log(f"stack ready in {time.monotonic() - started:.0f} s")
        yield running
    except Exception:
        deploy.log(running.logs())
        raise
    finally:
        running.down()


def _request(stack, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _get(stack, path, token=None):
    return _request(stack, "GET", path, token=token)


def _wait(condition, *, seconds: float, what: str, every: float = 2.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _metric(stack, name: str) -> float | None:
    status, text = _get(stack, "/metrics")
    assert status == 200, text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _records(prefix: str, rows: list, day: dt.date) -> list[dict]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    return [
        {"external_id": f"{prefix}-{i}", "prompt": text, "response": f"Routing to {intent.replace('_', ' ')}.",
         "timestamp": (start + dt.timedelta(seconds=20 * i)).isoformat(), "model_version": "v1"}
        for i, (text, intent) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def credentials(stack) -> dict:
    # No user-management API (superusers manage users in the admin): one management shell makes the
    # ML engineer, the deployment, a personal token and a per-deployment ingestion key, through the services.
    out = stack.manage("shell", "-c", (
        "from django.contrib.auth.models import User\n"
        "from drift_app import services\n"
        "from drift_app.services.keys import ingestion_key_create, personal_token_create\n"
        "from drift_app.services.teams import team_membership_add\n"
        "u = User.objects.create_user('ops-engineer', password=None)\n"
        "team_membership_add(user=u, role='ml_engineer')\n"
        "d = services.deployment_create(name='Support bot', slug='support-bot', current_model_version='v1')\n"
        "print('TOKEN', personal_token_create(user=u, name='deploy-test')[1])\n"
        "print('INGEST', ingestion_key_create(deployment=d, user=u, name='deploy-test', scopes=['ingest:samples'])[1])\n"
    ))
    found = dict(line.split()[:2] for line in out.splitlines() if line.startswith(("TOKEN", "INGEST")))
    return {"token": found["TOKEN"], "ingest": found["INGEST"]}


@pytest.fixture(scope="module")
def engineer_token(credentials) -> str:
    return credentials["token"]


def _ingest(stack, token, records, *, batch: int = 250) -> None:
    for start in range(0, len(records), batch):
        status, body = _request(stack, "POST", "/api/v1/deployments/support-bot/samples", records[start:start + batch],
                                token=token)
        assert status == 201, body


def test_the_stack_answers_health_and_readiness_without_authentication_and_hides_metrics_from_outsiders(stack):
    assert _get(stack, "/healthz") == (200, {"status": "alive"})
    assert _get(stack, "/readyz") == (200, {"status": "ready"})
    status, body = _get(stack, "/api/v1/deployments")
    assert status == 401
    # The test calls from 127.0.0.1, inside the default METRICS_ALLOWED_NETWORKS.
    assert _metric(stack, "driftdesk_queue_length") is not None


def test_the_web_container_connects_as_the_runtime_role_which_cannot_update_the_audit_trail(stack, credentials):
    # `credentials` made a deployment and keys through the services: the audit trail has events.
    out = stack.manage("shell", "-c", (
        "import os\n"
        "from django.db import connection, transaction\n"
        "print('OWNER_URL', repr(os.environ.get('DATABASE_OWNER_URL', '')))\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT current_user, count(*) FROM compliance_auditevent GROUP BY 1')\n"
        "    print('USER', *c.fetchone())\n"
        "    for sql in ('UPDATE compliance_auditevent SET action = action', 'DELETE FROM compliance_auditevent',\n"
        "                'TRUNCATE compliance_auditevent'):\n"
        "        try:\n"
        "            with transaction.atomic():\n"
        "                c.execute(sql)\n"
        "            print('ALLOWED', sql.split()[0])\n"
        "        except Exception as exc:\n"
        "            print('REFUSED', sql.split()[0], exc.__cause__.sqlstate)\n"
    ))
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("OWNER_URL", "USER")))
    user, events = lines["USER"].split()
    assert user == "driftdesk_app" and int(events) > 0, out
    assert lines["OWNER_URL"] == "''", "the web container must not see the owner's connection"
    # 42501: insufficient_privilege, refused by the grants before the append-only trigger is reached.
    refused = sorted(line for line in out.splitlines() if line.startswith(("REFUSED", "ALLOWED")))
    assert refused == ["REFUSED DELETE 42501", "REFUSED TRUNCATE 42501", "REFUSED UPDATE 42501"], out
    # Every running service (web, workers, beat) connects as the runtime role; only migrate used the owner.
    users = set(stack.psql("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'driftdesk' "
                           "AND backend_type = 'client backend' AND usename <> 'postgres'").split())
    assert users == {"driftdesk_app"}, users
    owned = stack.psql("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE 'drift\\_app\\_%'")
    assert owned == "driftdesk_owner", owned


def test_samples_ingested_over_http_are_embedded_by_the_worker_and_drift_and_a_verdict_run(stack, engineer_token, credentials):
    data = json.loads(CLINC.read_text())
    today = dt.datetime.now(dt.UTC).date()
    # Baseline: one half of CLINC150's intents; the window: the other half (a shift the drift run should see).
    intents = sorted({intent for _, intent in data["train"]})
    first, second = set(intents[:75]), set(intents[75:])
    baseline_rows = [r for r in data["train"] if r[1] in first][::10][:600]  # calibration needs structure, pool and radius rows
    window_rows = [r for r in data["train"] if r[1] in second][::20][:250]
    day_b, day_w = today - dt.timedelta(days=3), today - dt.timedelta(days=2)
    _ingest(stack, credentials["ingest"], _records("base", baseline_rows, day_b) + _records("win", window_rows, day_w))
    assert _metric(stack, "driftdesk_samples_ingested_total") == 850
    _wait(lambda: _metric(stack, "driftdesk_embedding_backlog") == 0, seconds=300, what="850 samples embedded")

    token = engineer_token
    start_b = dt.datetime.combine(day_b, dt.time(0), tzinfo=dt.UTC)
    status, baseline = _request(stack, "POST", "/api/v1/deployments/support-bot/baselines", {
        "period_start": start_b.isoformat(), "period_end": (start_b + dt.timedelta(days=1)).isoformat(),
        "max_samples": 600}, token=token)
    assert status == 202, baseline
    _wait(lambda: next((b for b in _get(stack, "/api/v1/deployments/support-bot/baselines", token)[1]
                        if b["id"] == baseline["id"] and b["status"] in ("fitted", "failed")), None),
          seconds=240, what="baseline fitted")
    status, baselines = _get(stack, "/api/v1/deployments/support-bot/baselines", token)
    assert next(b for b in baselines if b["id"] == baseline["id"])["status"] == "fitted", baselines

    start_w = dt.datetime.combine(day_w, dt.time(0), tzinfo=dt.UTC)
    window = {"window_start": start_w.isoformat(), "window_end": (start_w + dt.timedelta(days=1)).isoformat()}
    status, runs = _request(stack, "POST", "/api/v1/deployments/support-bot/drift-runs",
                            {**window, "target": "prompts"}, token=token)
    assert status == 202, runs
    run = _wait(lambda: (lambda r: r if r["status"] not in ("pending", "running") else None)(
        _get(stack, f"/api/v1/deployments/support-bot/drift-runs/{runs[0]['id']}", token)[1]),
        seconds=240, what="drift run finished")
    assert run["status"] == "completed", run
    assert run["drifted"] is True, run  # half of the intents replaced by the other half

    status, verdict = _request(stack, "POST", "/api/v1/deployments/support-bot/verdicts", window, token=token)
    assert status == 201, verdict
    assert verdict["verdict_class"], verdict


def test_a_killed_embeddings_worker_is_restarted_and_every_vector_lands_exactly_once(stack, credentials):
    data = json.loads(CLINC.read_text())
    rows = data["test"][:600]
    before = int(stack.psql("SELECT count(*) FROM drift_app_productionsample"))
    # Every write of a sample's vector is recorded by a trigger the test installs (samples also get
    # other updates: the embedding claim is renewed each time a task takes them, so a redelivered task
    # renews it again; only vector writes are counted here).
    stack.psql(
        "CREATE TABLE IF NOT EXISTS test_vector_writes (sample_id bigint NOT NULL);"
        "GRANT INSERT ON test_vector_writes TO PUBLIC;"
        # SECURITY DEFINER: it runs as its owner, not as the application's role that makes the UPDATE.
        "CREATE OR REPLACE FUNCTION test_record_vector_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ "
        "BEGIN INSERT INTO test_vector_writes VALUES (NEW.id); RETURN NEW; END $$;"
        "DROP TRIGGER IF EXISTS test_vector_write ON drift_app_productionsample;"
        # UPDATE OF prompt_embedding: every statement that writes the vector, even the same vector again
        # (the encoder is deterministic: a second embedding of a sample writes identical values).
        "CREATE TRIGGER test_vector_write AFTER UPDATE OF prompt_embedding ON drift_app_productionsample FOR EACH ROW "
        "WHEN (NEW.prompt_embedding IS NOT NULL) EXECUTE FUNCTION test_record_vector_write();"
    )
    # Six tasks of 100 samples: the worker is killed inside one of them.
    _ingest(stack, credentials["ingest"], _records("burst", rows, dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)),
            batch=100)
    # Mid-batch: some of the burst embedded, some not.
    _wait(lambda: 0 < (_metric(stack, "driftdesk_embedding_backlog") or 0) < len(rows) - 150, seconds=300,
          what="the embeddings worker half-way through the burst", every=0.5)
    embedder = stack.container("embedder")
    deploy.run(["docker", "kill", embedder], quiet=True)
    stack.compose("up", "-d", "--no-build", "--no-deps", "embedder")
    _wait(lambda: _metric(stack, "driftdesk_embedding_backlog") == 0, seconds=480,
          what="every sample embedded after the restart")

    after = int(stack.psql("SELECT count(*) FROM drift_app_productionsample"))
    embedded = int(stack.psql("SELECT count(*) FROM drift_app_productionsample WHERE prompt_embedding IS NOT NULL"))
    assert after - before == len(rows)
    assert embedded == after
    # One vector write per new sample, though the killed worker's task ran again: none embedded twice.
    writes, distinct = (int(x) for x in stack.psql(
        "SELECT count(*), count(DISTINCT sample_id) FROM test_vector_writes").split("|"))
    assert (writes, distinct) == (len(rows), len(rows))
    # The counter can see a second write: the same vector written again over one sample counts.
    stack.psql("UPDATE drift_app_productionsample SET prompt_embedding = prompt_embedding "
               "WHERE id = (SELECT max(sample_id) FROM test_vector_writes)")
    assert int(stack.psql("SELECT count(*) FROM test_vector_writes")) == len(rows) + 1
