"""Code-red notifications: Django mail and a Slack-compatible webhook against a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from tests.verdicts.helpers import T0, window
from verdicts import services, webhook
from verdicts.models import Alert, AlertPolicy


class Receiver:
    """A real HTTP server on 127.0.0.1 answering the statuses in `script` in turn (then 200)."""

    def __init__(self, script: list[int]):
        self.script = list(script)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(script):
        made.append(Receiver(script))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_the_webhook_retries_a_5xx_then_succeeds(receiver_factory):
    r = receiver_factory([503, 502])
    waits = []
    attempts = webhook.post_json(r.url, {"text": "hi"}, attempts=3, backoff=0.5, sleep=waits.append)
    assert [(a.attempt, a.status_code, a.ok) for a in attempts] == [(1, 503, False), (2, 502, False), (3, 200, True)]
    assert waits == [0.5, 1.0] and len(r.bodies) == 3


def test_the_webhook_does_not_retry_a_client_error(receiver_factory):
    r = receiver_factory([404])
    attempts = webhook.post_json(r.url, {"text": "hi"}, attempts=3, sleep=lambda s: None)
    assert len(attempts) == 1 and attempts[0].error == "HTTP 404 Not Found"


def test_an_unreachable_webhook_is_reported_after_every_attempt():
    attempts = webhook.post_json("http://127.0.0.1:9/hook", {"text": "x"}, attempts=2, timeout=0.5, sleep=lambda s: None)
    assert [a.ok for a in attempts] == [False, False] and "URLError" in attempts[0].error


@pytest.mark.django_db
def test_a_code_red_posts_a_slack_body_and_logs_every_attempt(world, receiver_factory, settings,
                                                             django_capture_on_commit_callbacks, eager_celery):
    r = receiver_factory([500])
    settings.DRIFTDESK_WEBHOOK_BACKOFF = 0.01
    AlertPolicy.objects.create(deployment=world.deployment, webhook_url=r.url, alert_emails="ml@example.org, sre@example.org")
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=5))
    world.golden(pass_rate=0.6, at=T0 + dt.timedelta(days=1), model_version="v3", regressed=3)
    world.served(0, "v3")
    world.drift(0)
    with django_capture_on_commit_callbacks(execute=True):
        services.verdict_compute(deployment=world.deployment, window_start=window(0)[0], window_end=window(0)[1])
    alert = Alert.objects.get()
    body = r.bodies[-1]
    assert body["text"].startswith(":rotating_light: Code red:") and body["blocks"][0]["type"] == "header"
    assert body["alert"]["tier"] == "code_red" and body["alert"]["verdict_class"] == "genuine_degradation"
    log = [(d.channel, d.attempt, d.status_code, d.ok) for d in alert.deliveries.order_by("id")]
    assert log == [("email", 1, None, True), ("webhook", 1, 500, False), ("webhook", 2, 200, True)]
    assert mail.outbox[0].to == ["ml@example.org", "sre@example.org"]
    # A redelivered task sends nothing again.
    assert services.alert_notify(alert=alert) == [] and len(r.bodies) == 2
