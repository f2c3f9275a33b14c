"""Operations: request ids in logs, /healthz, /readyz and Prometheus metrics at /metrics.

/healthz says the process is alive and touches nothing. /readyz checks what a request needs (the
database, the broker, every migration applied) and says which check failed, never any data. Both
answer without authentication so that load balancers and orchestrators can call them.

Metrics come from three places, so that one scrape of any web process sees the whole system:
- this process's own counters (requests, samples ingested), shared between gunicorn workers through
  prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set;
- Celery task durations and failures, which happen in worker containers: the workers add them to one
  Redis hash (task signals below) and the collector reads it at scrape time;
- state read at scrape time from PostgreSQL and Redis (embedding backlog, queue lengths, run
  durations), plus collectors that higher layers register (verdicts by class, open alerts by tier)
  through `register_collector`, since this module cannot import them.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("driftdesk.access")

# --- Request ids --------------------------------------------------------------------------------

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# A caller's id is kept only when it is short and plain: it ends up in every log line of the request.
_CALLER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


REQUESTS = Counter("driftdesk_http_requests_total", "HTTP requests served", ["method", "status"])
REQUEST_SECONDS = Histogram("driftdesk_http_request_seconds", "HTTP request duration", ["method"])
SAMPLES_INGESTED = Counter("driftdesk_samples_ingested_total", "Production samples stored by the ingestion API")
OTLP_SPANS = Counter("driftdesk_otlp_spans_total", "Spans received by the OTLP trace receiver, by outcome "
                     "(created, existing: a re-export, ignored: not an LLM call, rejected)", ["outcome"])


class RequestIdMiddleware:
    """Gives each request an id (the caller's X-Request-ID when it is plain, else a new one), puts it in
    every log line and in the response's X-Request-ID header, and counts the request for /metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        rid = given if _CALLER_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            seconds = time.perf_counter() - started
            REQUESTS.labels(request.method, str(response.status_code)).inc()
            REQUEST_SECONDS.labels(request.method).observe(seconds)
            # The access log: one line per request (JSON in production), never the query string or body.
            access_logger.info("%s %s %s", request.method, request.path, response.status_code, extra={
                "method": request.method, "path": request.path, "status": response.status_code,
                "seconds": round(seconds, 4),
            })
            return response
        finally:
            _request_id.reset(token)


# --- Health and readiness -------------------------------------------------------------------------


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "alive"})


def _check_database() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_migrations() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise RuntimeError("unapplied migrations")


def _check_broker() -> None:
    _redis().ping()


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "migrations": _check_migrations,
    "broker": _check_broker,
}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    failed = []
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure means not ready; the log has the detail
            logger.warning("readiness check %s failed", name, exc_info=True)
            failed.append(name)
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ready"})


# --- Metrics --------------------------------------------------------------------------------------

_collectors: list[Callable[[], Iterable[Metric]]] = []


def register_collector(collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a function yielding metric families read at scrape time (higher layers register theirs)."""
    if collect not in _collectors:
        _collectors.append(collect)


def _redis():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)


TASK_METRICS_KEY = "driftdesk:metrics:tasks"


def record_task(*, name: str, seconds: float | None, failed: bool) -> None:
    """Called from worker task signals: one Redis hash shared by every worker on every host."""
    pipe = _redis().pipeline()
    if seconds is not None:
        pipe.hincrbyfloat(TASK_METRICS_KEY, f"{name}|seconds", seconds)
        pipe.hincrby(TASK_METRICS_KEY, f"{name}|count", 1)
    if failed:
        pipe.hincrby(TASK_METRICS_KEY, f"{name}|failures", 1)
    pipe.execute()


def _collect_tasks() -> Iterable[Metric]:
    seconds = GaugeMetricFamily("driftdesk_task_seconds_sum", "Total seconds spent in finished tasks", labels=["task"])
    count = GaugeMetricFamily("driftdesk_task_seconds_count", "Finished tasks", labels=["task"])
    failures = GaugeMetricFamily("driftdesk_task_failures_total", "Tasks that raised", labels=["task"])
    families = {"seconds": seconds, "count": count, "failures": failures}
    for key, value in sorted(_redis().hgetall(TASK_METRICS_KEY).items()):
        name, _, kind = key.decode().rpartition("|")
        if kind in families:
            families[kind].add_metric([name], float(value))
    yield from families.values()


def _collect_queues() -> Iterable[Metric]:
    queues = GaugeMetricFamily("driftdesk_queue_length", "Messages waiting in a Celery queue", labels=["queue"])
    client = _redis()
    for queue in ("embeddings", "default"):
        queues.add_metric([queue], client.llen(queue))
    yield queues


def _collect_core() -> Iterable[Metric]:
    from . import selectors

    yield GaugeMetricFamily("driftdesk_embedding_backlog", "Samples waiting for a vector",
                            value=selectors.embedding_backlog_count())
    runs, seconds = selectors.drift_run_duration_totals()
    yield GaugeMetricFamily("driftdesk_drift_run_seconds_count", "Drift runs computed", value=runs)
    yield GaugeMetricFamily("driftdesk_drift_run_seconds_sum", "Seconds spent computing drift runs", value=seconds)


register_collector(_collect_core)
register_collector(_collect_queues)
register_collector(_collect_tasks)


class _ScrapeTimeCollector:
    def collect(self) -> Iterable[Metric]:
        for collect in list(_collectors):
            try:
                yield from collect()
            except Exception:  # noqa: BLE001 - one broken source must not hide the others
                logger.warning("metrics collector %s failed", getattr(collect, "__name__", collect), exc_info=True)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_allowed(request):
        return JsonResponse({"detail": "metrics are limited to METRICS_ALLOWED_NETWORKS or the METRICS_TOKEN"},
                            status=403)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:  # this process's own counters, without the default process/platform collectors
        for collector in (REQUESTS, REQUEST_SECONDS, SAMPLES_INGESTED):
            registry.register(collector)
    registry.register(_ScrapeTimeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def connect_task_signals() -> None:
    """Workers report task durations and failures (called from drift_app.celery)."""
    from celery import signals

    started: dict[str, float] = {}

    @signals.task_prerun.connect(weak=False)
    def _prerun(task_id=None, **_):
        started[task_id] = time.perf_counter()

    @signals.task_postrun.connect(weak=False)
    def _postrun(task_id=None, task=None, state=None, **_):
        begun = started.pop(task_id, None)
        try:
            record_task(name=task.name, seconds=None if begun is None else time.perf_counter() - begun,
                        failed=state == "FAILURE")
        except Exception:  # noqa: BLE001 - metrics never fail a task
            logger.warning("could not record task metrics", exc_info=True)
