"""Outbound calls go only to allowed hosts, with keys from prefixed variables, never through redirects.

Regression tests for issue 14: an ML-engineer token could set the evaluation config's api_key_env to
SECRET_KEY and its endpoint to an outside URL, and the next evaluation sent the key there; the client
followed redirects with the header and echoed non-JSON replies into results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings

from drift_app import outbound
from goldenset import services
from goldenset.llm_client import ChatClient
from goldenset.models import EvalConfig
from tests import factories
from verdicts import webhook

ROOT = Path(__file__).resolve().parents[2]


class Listener:
    """A real HTTP server on 127.0.0.1 that records every request and answers `status`/`body`/`location`."""

    def __init__(self, *, status: int = 200, body: bytes = b"{}", location: str = ""):
        self.requests: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                listener.requests.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listeners():
    made: list[Listener] = []

    def make(**kw) -> Listener:
        made.append(Listener(**kw))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def _chat_ok() -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": "fine"}}]}).encode()


def _put_config(personas, deployment, body):
    return personas.api("erin").put(f"/api/v1/deployments/{deployment.slug}/golden/config",
                                    data=json.dumps(body), content_type="application/json")


# --- the allowlist and the key prefix -----------------------------------------------------------------

@pytest.mark.parametrize("host, allowed, ok", [
    ("llm.internal", ["llm.internal"], True),
    ("LLM.internal", ["llm.internal"], True),
    ("evil-llm.internal", ["llm.internal"], False),
    ("llm.internal.evil.com", ["llm.internal"], False),
    ("a.example.com", [".example.com"], True),
    ("example.com", [".example.com"], True),
    ("badexample.com", [".example.com"], False),
    ("llm.internal", [], False),
])
def test_a_host_is_allowed_only_when_the_allowlist_names_it(host, allowed, ok):
    assert (outbound.url_problem(f"https://{host}/v1", allowed=allowed) is None) is ok


def _settings_value(expr: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTDESK_")}
    environ.update({"DEBUG": "true", **env})
    return subprocess.run([sys.executable, "-c", f"import drift_app.settings.base as s; print({expr})"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)


def test_the_allowlist_is_empty_by_default_so_a_fresh_install_calls_nothing():
    result = _settings_value("s.DRIFTDESK_OUTBOUND_ALLOWED_HOSTS, s.DRIFTDESK_API_KEY_ENV_PREFIX")
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "[] DRIFTDESK_LLM_KEY_"
    with override_settings(DRIFTDESK_OUTBOUND_ALLOWED_HOSTS=[]):
        assert "no outbound host is allowed yet" in outbound.url_problem("https://api.openai.com/v1")


@pytest.mark.parametrize("env, message", [
    ({"DRIFTDESK_OUTBOUND_ALLOWED_HOSTS": "https://llm.internal/v1"}, "is not a host name"),
    ({"DRIFTDESK_API_KEY_ENV_PREFIX": ""}, "DRIFTDESK_API_KEY_ENV_PREFIX must be"),
    ({"DRIFTDESK_API_KEY_ENV_PREFIX": "SECRET"}, "DRIFTDESK_API_KEY_ENV_PREFIX must be"),
])
def test_a_malformed_outbound_setting_stops_start_up(env, message):
    result = _settings_value("1", **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_a_url_with_credentials_in_it_is_refused_even_on_an_allowed_host():
    assert "credentials" in outbound.url_problem("http://user:pw@127.0.0.1/v1")


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "DRIFTDESK_LLM_KEY_", "driftdesk_llm_key_x", "A B"])
def test_an_api_key_is_never_read_from_a_variable_outside_the_prefix(name, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "the-real-secret")
    with pytest.raises(outbound.OutboundRefused) as caught:
        outbound.api_key(name)
    assert caught.value.field == "api_key_env" and "the-real-secret" not in str(caught.value)


def test_an_api_key_is_read_from_a_prefixed_variable(monkeypatch):
    monkeypatch.setenv("DRIFTDESK_LLM_KEY_ACME", "sk-acme")
    assert outbound.api_key("DRIFTDESK_LLM_KEY_ACME") == "sk-acme"


# --- evaluation config: refused at save time with a 400 naming the field ------------------------------

@pytest.mark.django_db
def test_the_config_api_refuses_secret_key_as_the_api_key_variable(personas):
    deployment = factories.deployment()
    r = _put_config(personas, deployment, {"endpoint_base_url": "http://127.0.0.1:9/v1", "endpoint_model": "m",
                                           "api_key_env": "SECRET_KEY"})
    assert r.status_code == 400 and "api_key_env" in json.dumps(r.json()) and "DRIFTDESK_LLM_KEY_" in json.dumps(r.json())
    assert not EvalConfig.objects.filter(deployment=deployment).exists()


@pytest.mark.django_db
def test_the_config_api_refuses_an_endpoint_outside_the_allowlist(personas):
    deployment = factories.deployment()
    r = _put_config(personas, deployment, {"endpoint_base_url": "https://exfil.example.net/v1", "endpoint_model": "m",
                                           "api_key_env": "DRIFTDESK_LLM_KEY_ACME"})
    assert r.status_code == 400 and "endpoint_base_url" in json.dumps(r.json()) and "exfil.example.net" in json.dumps(r.json())
    assert not EvalConfig.objects.filter(deployment=deployment).exists()


@pytest.mark.django_db
def test_an_evaluation_never_sends_secret_key_even_if_the_config_was_written_around_validation(
        personas, listeners, monkeypatch):
    from tests.goldenset.conftest import approve, make_item

    monkeypatch.setenv("SECRET_KEY", "the-real-secret")
    deployment = factories.deployment()
    approve(make_item(personas.bob), author=personas.bob, approver=personas.carol)
    sink = listeners(body=_chat_ok())
    services.eval_config_update(deployment=deployment, endpoint_base_url=sink.url + "/v1", endpoint_model="m")
    # What an attacker with database-level write (or an old row) would leave: no validation ran.
    EvalConfig.objects.filter(deployment=deployment).update(api_key_env="SECRET_KEY")
    run = services.eval_run_create(deployment=deployment, queue=False)
    with pytest.raises(outbound.OutboundRefused):
        services.eval_run_execute(run=run)
    run.refresh_from_db()
    assert run.status == "failed" and "api_key_env" in run.error
    assert sink.requests == []


# --- the chat client ---------------------------------------------------------------------------------

def test_the_chat_client_makes_no_request_to_a_host_outside_the_allowlist(listeners):
    sink = listeners(body=_chat_ok())
    with override_settings(DRIFTDESK_OUTBOUND_ALLOWED_HOSTS=["llm.internal"]):
        result = ChatClient(base_url=sink.url + "/v1", model="m", api_key="sk-x", max_retries=0).complete(
            [{"role": "user", "content": "hi"}])
    assert not result.ok and "not in DRIFTDESK_OUTBOUND_ALLOWED_HOSTS" in result.error
    assert sink.requests == []


def test_the_chat_client_never_follows_a_redirect_with_the_key(listeners):
    elsewhere = listeners(body=_chat_ok())
    bouncer = listeners(status=302, body=b"", location=elsewhere.url + "/v1/chat/completions")
    result = ChatClient(base_url=bouncer.url + "/v1", model="m", api_key="sk-x", max_retries=0,
                        backoff_s=0.01).complete([{"role": "user", "content": "hi"}])
    assert not result.ok and "302" in result.error
    assert len(bouncer.requests) == 1 and elsewhere.requests == []


def test_a_non_json_reply_is_reported_by_status_and_length_never_echoed(listeners):
    page = b"<html>internal admin page: db password hunter2</html>"
    sink = listeners(body=page)
    result = ChatClient(base_url=sink.url + "/v1", model="m", max_retries=0).complete(
        [{"role": "user", "content": "hi"}])
    assert not result.ok and "malformed" in result.error
    assert f"HTTP 200, {len(page)} bytes" in result.error
    assert "hunter2" not in result.error and "<html>" not in result.error


# --- webhooks ----------------------------------------------------------------------------------------

def test_a_webhook_to_a_host_outside_the_allowlist_is_refused_and_not_called(listeners):
    sink = listeners()
    with override_settings(DRIFTDESK_OUTBOUND_ALLOWED_HOSTS=[]):
        attempts = webhook.post_json(sink.url + "/hook", {"text": "x"}, attempts=3, sleep=lambda s: None)
    assert len(attempts) == 1 and not attempts[0].ok and "refused" in attempts[0].error
    assert sink.requests == []


def test_a_webhook_never_follows_a_redirect(listeners):
    elsewhere = listeners()
    bouncer = listeners(status=307, body=b"", location=elsewhere.url + "/hook")
    attempts = webhook.post_json(bouncer.url + "/hook", {"text": "x"}, attempts=1, sleep=lambda s: None)
    assert not attempts[-1].ok and attempts[-1].status_code == 307
    assert elsewhere.requests == []


@pytest.mark.django_db
def test_an_alert_policy_webhook_outside_the_allowlist_is_refused_at_save_time():
    from django.core.exceptions import ValidationError

    from verdicts.models import AlertPolicy

    policy = AlertPolicy(deployment=factories.deployment(), webhook_url="https://hooks.exfil.example/x")
    with pytest.raises(ValidationError) as caught:
        policy.full_clean()
    assert "webhook_url" in caught.value.message_dict
