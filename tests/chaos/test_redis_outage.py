"""Redis stopped during ingestion and flagging: both keep working, the limiter degrades safely, nothing is lost."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from drift_app import services
from drift_app.models import ProductionSample
from feedback.models import Flag
from tests import factories
from tests.chaos.conftest import use_broker
from tests.feedback.conftest import make_samples

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _cache(url: str) -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"{url}/1",
                        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}


@pytest.fixture
def outage_redis(disposable_redis, redis_server, settings):
    settings.CELERY_TASK_PUBLISH_RETRY = False
    use_broker(f"{disposable_redis.url}/0")
    from drift_app.celery import app

    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "socket_connect_timeout": 0.5}
    app.conf.task_publish_retry = False
    with override_settings(CACHES=_cache(disposable_redis.url)):
        yield disposable_redis
    use_broker(redis_server)
    app.conf.task_publish_retry = True


def test_ingestion_keeps_working_while_redis_is_down_and_the_backfill_queues_what_was_missed(personas, outage_redis, settings):
    import redis

    settings.DRIFTDESK_BACKFILL_GRACE_SECONDS = 0
    settings.DRIFTDESK_EMBED_LEASE_SECONDS = 1
    deployment = factories.deployment()
    client = personas.api("erin")
    url = f"/api/v1/deployments/{deployment.slug}/samples"
    before = client.post(url, data=json.dumps([factories.sample_record(i) for i in range(10)]), content_type="application/json")
    assert before.status_code == 201

    outage_redis.kill()
    during = client.post(url, data=json.dumps([factories.sample_record(i) for i in range(10, 30)]), content_type="application/json")
    assert during.status_code == 201, during.content
    outage_redis.start()

    assert ProductionSample.objects.filter(deployment=deployment).count() == 30
    # Nothing lost: once Redis is back (and the lease of the missed tasks ran out), the backfill queues them.
    import time

    time.sleep(1.1)
    use_broker(f"{outage_redis.url}/0")  # fresh connections to the restarted server
    from drift_app.celery import app

    app.conf.task_publish_retry = True
    assert services.embeddings_backfill() == 30  # the 10 queued before the outage went with the old Redis too
    queued = redis.Redis.from_url(f"{outage_redis.url}/0").llen("embeddings")
    assert queued == 1


def test_flagging_keeps_working_while_redis_is_down_and_the_limit_still_holds(personas, outage_redis, settings):
    settings.DRIFTDESK_FLAG_RATE = "3/hour"
    deployment = factories.deployment()
    samples = make_samples(deployment, 6)
    outage_redis.kill()
    client = personas.api("alice")
    statuses = [
        client.post("/api/v1/flags", {"sample_id": s.id, "reason": "incorrect"}, format="json").status_code
        for s in samples[:5]
    ]
    assert statuses == [201, 201, 201, 429, 429]
    assert Flag.objects.filter(sample__deployment=deployment).count() == 3


def test_a_drift_run_request_while_the_broker_is_down_answers_503_with_retry_after(personas, outage_redis):
    import datetime as dt

    from drift_app.models import Baseline, DriftRun

    deployment = factories.deployment()
    t0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)
    Baseline.objects.create(deployment=deployment, period_start=t0 - dt.timedelta(days=7), period_end=t0,
                            status=Baseline.Status.FITTED, is_active=True)
    outage_redis.kill()
    body = json.dumps({"window_start": t0.isoformat(), "window_end": (t0 + dt.timedelta(days=1)).isoformat(),
                       "target": "prompts"})
    r = personas.api("erin").post(f"/api/v1/deployments/{deployment.slug}/drift-runs", data=body,
                                  content_type="application/json")
    assert r.status_code == 503, r.content
    assert int(r["Retry-After"]) > 0 and "broker" in r.json()["detail"]
    # The run is stored; a retry once the broker is back answers with the same run (no duplicate).
    assert DriftRun.objects.filter(deployment=deployment).count() == 1
