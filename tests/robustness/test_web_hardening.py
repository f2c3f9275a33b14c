"""Web hardening: error pages without DEBUG, CSP with no inline script, sign-in throttling, schema behind sign-in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import override_settings

from tests.base import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_serves_with_debug_false():
    """localstack starts gunicorn with DEBUG=false whatever the caller's environment says."""
    source = (ROOT / "drift_app" / "localstack.py").read_text()
    web = source[source.index('_spawn("web"'):]
    web = web[: web.index("_wait_port")]
    assert 'env={"DEBUG": "false"}' in web


@override_settings(DEBUG=False)
def test_an_unknown_page_answers_the_404_page_without_debug_details(personas, client):
    client.force_login(personas.alice)
    r = client.get("/no/such/page/")
    assert r.status_code == 404
    body = r.content.decode()
    assert "Not found" in body and "Traceback" not in body and "urlpatterns" not in body


@override_settings(DEBUG=False)
def test_a_page_outside_the_role_answers_the_403_page(personas, client):
    client.force_login(personas.mallory)
    r = client.get("/golden/import/")
    assert r.status_code == 403


def test_every_page_carries_a_content_security_policy_without_inline_script(personas, client):
    client.force_login(personas.erin)
    r = client.get("/")
    policy = r["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"


def test_the_content_security_policy_forbids_inline_style_too(personas, client):
    client.force_login(personas.erin)
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["style-src"] == "'self'"


def test_no_page_template_carries_an_inline_style(settings):
    """Inline style would be refused by the browser (style-src 'self'). Report templates only reach WeasyPrint."""
    from pathlib import Path

    root = Path(settings.BASE_DIR) / "templates"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.html")
                 if p.parts[len(root.parts)] != "reports" and ("style=" in p.read_text() or "<style" in p.read_text())]
    assert offenders == []


@override_settings(DEBUG=False)
def test_the_403_page_names_the_role_the_page_needs_and_links_home(personas, client):
    client.force_login(personas.alice)
    r = client.get("/golden/import/")
    page = r.content.decode()
    assert r.status_code == 403
    assert "This page is for the subject-matter expert role." in page and "You are signed in as power user." in page
    assert 'href="/"' in page


@override_settings(DEBUG=False)
def test_the_404_page_is_the_styled_page_not_a_debug_page(personas, client):
    client.force_login(personas.alice)
    r = client.get("/no/such/page/")
    assert r.status_code == 404 and 'id="state-404"' in r.content.decode()


def test_no_template_holds_inline_script_or_event_handlers():
    """The CSP forbids inline script: a template with <script> without src or an on*= handler would break."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(ROOT)}: {tag}")
        for handler in re.findall(r"<[^>]*\son[a-z]+\s*=", text, flags=re.I):
            offenders.append(f"{path.relative_to(ROOT)}: {handler[:60]}")
    assert offenders == []


def test_the_api_docs_script_is_served_as_a_file_for_the_csp(personas, client):
    client.force_login(personas.erin)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert "<script>" not in page.content.decode().replace(" ", "")


def test_the_api_schema_and_docs_need_sign_in(personas, client):
    assert personas.api(None).get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)
    assert personas.api("alice").get("/api/schema/").status_code == 200


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_an_anonymous_browser_opening_the_api_docs_is_sent_to_sign_in_and_brought_back(personas, client):
    r = client.get("/api/docs/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert r.status_code == 302 and r["Location"] == "/login/?next=/api/docs/"
    client.force_login(personas.bob)
    assert client.get("/api/docs/", HTTP_ACCEPT=BROWSER_ACCEPT).status_code == 200


def test_an_api_client_without_credentials_still_gets_401_json_from_the_docs(personas):
    for accept in ("application/json", "*/*"):
        r = personas.api(None).get("/api/docs/", HTTP_ACCEPT=accept)
        assert r.status_code == 401 and r["Content-Type"].startswith("application/json")
        assert "credentials" in r.json()["detail"].lower()


def test_paginated_lists_are_documented_as_pages_not_bare_arrays(personas):
    schema = personas.api("erin").get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in ["/api/v1/deployments/{slug}/samples", "/api/v1/flags", "/api/v1/golden/items",
                 "/api/v1/compliance/audit", "/api/v1/compliance/reports", "/api/v1/deployments/{slug}/verdicts",
                 "/api/v1/deployments/{slug}/alerts", "/api/v1/deployments/{slug}/drift-runs", "/api/v1/deployments"]:
        ref = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        name = ref["$ref"].rsplit("/", 1)[-1]
        component = schema["components"]["schemas"][name]
        assert component.get("type") == "object" and "results" in component["properties"], path


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_sign_in_is_refused_after_repeated_failures_even_with_the_right_password(personas, client):
    statuses = [client.post("/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.9").status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]  # the form again with its error, then the lock-out on the third failure
    r = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert r.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by alice's failures elsewhere.
    other = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.10")
    assert other.status_code == 302


def test_https_deployments_get_hsts_secure_cookies_and_a_redirect():
    import subprocess
    import sys

    code = ("import drift_app.settings.base as s; print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
            "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)")
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 50, "DEBUG": "false", "DRIFTDESK_HTTPS": "true",
           "DATABASE_URL": "postgresql://u@localhost/db", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
           "CACHE_URL": "redis://127.0.0.1:6379/1", "ALLOWED_HOSTS": "driftdesk.example"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["31536000", "True", "True", "True"]
    env["DRIFTDESK_HTTPS"] = "false"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "False", "False", "False"]
