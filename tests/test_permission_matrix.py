"""The permission matrix, generated from the URL configuration: every route x every role x own / other team.

Routes are read from the resolver (the admin excepted: tests/drift/test_admin_lockdown.py covers it), so
a new page or API view is in the matrix the moment it has a URL. Rules, per (route, method, caller):

- anonymous: a page redirects to the sign-in page, an API answers 401/403 (PUBLIC routes excepted);
- mallory, signed in without a role or a team: 403 (or 404/405) everywhere but SIGNED_IN routes;
- every persona with a role, on an object of ANOTHER team (its deployment, sample, flag, verdict, alert,
  advice, report, evaluation or drift run): 403/404/405, and the other team's secret text never appears;
- on the same objects of its OWN team, no route answers 5xx, and each GET route bound to a team object
  answers 200 to at least one role (so the 404s above are about the team, not a missing fixture);
- a GET route bound to no object (a list) never shows the other team's text to any role. The sample
  explorer (/feedback/answers/) is open to every role, power users included (issue 18): power users flag
  their team's answers, so they may find them; the deployment page with its drift figures stays closed
  to them.

A view that forgets its role check fails the mallory rule; one that forgets its team scope fails the
other-team rule.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from compliance import services as compliance_services
from drift_app.models import DriftRun
from feedback import services as feedback_services
from tests import factories
from tests.base import join_team
from tests.verdicts.helpers import T0, World, window
from verdicts import services as verdict_services
from verdicts.models import Alert, RetrainingAdvice, Verdict

pytestmark = pytest.mark.django_db

# healthz/readyz/metrics are the operations endpoints (no data; /metrics limited by its own setting).
PUBLIC = {"login", "logout", "api-schema", "api-docs", "healthz", "readyz", "metrics"}
SIGNED_IN = PUBLIC | {"home"}
# Routes for tracing tools (issue 17): only a deployment's ingestion key may use them (Bearer, or Langfuse-style
# Basic); every persona's personal token is refused (403), anonymous callers get 401. They answer like APIs.
INGESTION_KEY_ROUTES = {"otlp-traces", "otlp-traces-otel", "otlp-traces-langfuse", "langfuse-ingestion",
                        "langfuse-scores", "phoenix-span-annotations"}
ROLE_PERSONAS = ("alice", "bob", "charlie", "erin")  # one per role (carol is a second SME)
METHODS = ("get", "post", "put", "patch", "delete")
# URL names whose <pk> is an object of this kind; routes with <slug> are bound to a deployment.
PK_KIND = [
    (re.compile(r"^sample-detail$"), "sample"),
    (re.compile(r"^verdict-detail$"), "verdict"),
    (re.compile(r"^(api-)?alert($|-)"), "alert"),
    (re.compile(r"^(api-)?advice-"), "advice"),
    (re.compile(r"^report-job$"), "report_job"),  # issue 18: generation/verification progress (compliance, ML)
    (re.compile(r"^baseline-detail$"), "baseline"),  # issue 18: a baseline's page (ML, SME, compliance)
    (re.compile(r"^(api-compliance-)?report(-|$)"), "report"),
    # run-retry / api-golden-run-retry: ML engineers of the run's team (tests/robustness/test_run_retry.py).
    (re.compile(r"^(run-detail|run-retry|api-golden-run|api-golden-run-baseline|api-golden-run-retry)$"), "eval_run"),
    (re.compile(r"^(api-)?flag-(?!list|sample)"), "flag"),
    (re.compile(r"^(item-(detail|edit)|api-golden-item.*)$"), "golden_item"),
    (re.compile(r"^api-golden-calibration-label$"), "eval_result"),
]
# Team-bound object kinds (every golden set belongs to a team, so golden items are too).
TEAM_BOUND = {"sample", "verdict", "alert", "advice", "report", "eval_run", "eval_result", "flag", "deployment",
              "drift_run", "golden_item", "team", "report_job", "baseline"}


@dataclass
class Route:
    pattern: str
    name: str
    methods: tuple[str, ...]
    is_api: bool


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def routes() -> list[Route]:
    out = []
    for pattern, p in _walk(get_resolver().url_patterns):
        view = getattr(p.callback, "view_class", None)
        if view is None:
            methods = ("get",)
        else:
            allowed = getattr(view, "http_method_names", METHODS)
            methods = tuple(m for m in METHODS if hasattr(view, m) and m in allowed)
        out.append(Route(pattern, p.name or pattern, methods,
                         pattern.startswith("api/") or p.name in INGESTION_KEY_ROUTES))
    return out


def _kinds(route: Route) -> set[str]:
    kinds = set()
    if "<slug:slug>" in route.pattern:
        kinds.add("deployment")
    if "<int:run_id>" in route.pattern:
        kinds.add("drift_run")
    if "<slug:team>" in route.pattern:
        kinds.add("team")
    if "<int:sample_pk>" in route.pattern:
        kinds.add("sample")
    if "<int:pk>" in route.pattern:
        kind = next((k for rx, k in PK_KIND if rx.search(route.name)), None)
        assert kind is not None, f"route {route.name} ({route.pattern}) has a <pk> the matrix does not know"
        kinds.add(kind)
    return kinds


@dataclass
class TeamWorld:
    objects: dict
    secret: str


def _world(personas, *, team, slug: str, power_user) -> TeamWorld:
    secret = f"SECRET-{slug.upper()}-PROMPT"
    fields = {"slug": slug, "name": f"{slug} bot"}
    if team is not None:
        fields["team"] = team
    world = World(personas.bob, **fields)
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=10))
    # Fresh evidence of the model that served each window (issue 11): v1 in window 0, v3 in window 1.
    world.served(0, "v1")
    world.golden(pass_rate=0.9, at=window(0)[0] + dt.timedelta(days=1))
    world.served(1, "v3")
    world.drift(0, prompts=True, novel=0.34, topics=[{"size": 5, "share": 0.34, "keywords": ["nimbus"],
                                                      "representative_texts": ["nimbus?"], "sample_ids": []}])
    verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0], window_end=window(0)[1])
    world.golden(pass_rate=0.5, at=window(1)[0] + dt.timedelta(days=1), model_version="v3", regressed=4)
    world.drift(1, responses=True)
    verdict_services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])
    sample = factories.sample(world.deployment, prompt=secret, response=f"{secret} answer")
    flag = feedback_services.flag_create(sample=sample, user=power_user, reason="incorrect", comment=secret)
    report = compliance_services.report_generate(deployment=world.deployment, start=T0 - dt.timedelta(days=14),
                                                 end=window(2)[0], user=personas.charlie)
    objects = {
        "deployment": world.deployment, "sample": sample, "flag": flag, "report": report,
        "verdict": Verdict.objects.filter(deployment=world.deployment).latest("window_start"),
        "alert": Alert.objects.filter(deployment=world.deployment).first(),
        "advice": RetrainingAdvice.objects.filter(deployment=world.deployment).first(),
        "eval_run": world.baseline_run,
        "eval_result": world.baseline_run.results.first(),
        "drift_run": DriftRun.objects.filter(deployment=world.deployment).first(),
        "golden_item": world.items[0][0],
        "team": world.deployment.team,
        "report_job": compliance_services.report_job_start(kind="verify", report=report, user=personas.charlie),
        "baseline": world.baseline,
    }
    missing = [k for k, v in objects.items() if v is None]
    assert not missing, f"the matrix fixture made no {missing}"
    return TeamWorld(objects, secret)


def _url(route: Route, objects: dict) -> str:
    kinds = _kinds(route)
    values = {"slug": objects["deployment"].slug, "team": objects["team"].slug, "run_id": objects["drift_run"].pk,
              "sample_pk": objects["sample"].pk, "fmt": "csv", "number": 1, "old": 1, "new": 1,
              "prefix": "ddp_nosuchkey"}
    pk_kind = next((k for k in kinds if k not in ("deployment", "drift_run", "team")), None)
    if "<int:pk>" in route.pattern:
        values["pk"] = objects[pk_kind].pk
    url = "/" + route.pattern
    for name, value in values.items():
        url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
    assert "<" not in url, f"cannot fill {route.pattern}"
    return url


def _client(personas, name: str | None, *, api: bool):
    if api:
        return personas.api(name)
    client = Client()
    if name is not None:
        client.force_login(getattr(personas, name))
    return client


def _call(client, method: str, url: str, *, api: bool):
    if api and method != "get":
        return getattr(client, method)(url, data="{}", content_type="application/json")
    return getattr(client, method)(url)


def test_the_permission_matrix_holds_for_every_route_role_and_team(personas, settings):
    settings.DRIFTDESK_ALERT_EMAILS = []
    settings.DRIFTDESK_ALERT_WEBHOOK_URL = ""
    ours = _world(personas, team=None, slug="ours", power_user=personas.alice)
    other_team = factories.team(name="Payments", slug="payments")
    zoe = User.objects.create_user("zoe")
    join_team(zoe, "power_user", other_team)
    theirs = _world(personas, team=other_team, slug="theirs", power_user=zoe)

    failures: list[str] = []
    checked = 0
    all_routes = routes()
    for route in all_routes:
        kinds = _kinds(route)
        bound = bool(kinds & TEAM_BOUND)
        own_ok = False
        for method in route.methods:
            own_url = _url(route, ours.objects)
            # Anonymous.
            r = _call(_client(personas, None, api=route.is_api), method, own_url, api=route.is_api)
            checked += 1
            if route.name not in PUBLIC:
                ok = r.status_code in (401, 403, 405) if route.is_api else (
                    r.status_code in (403, 405) or (r.status_code == 302 and "/login/" in r["Location"]))
                if not ok:
                    failures.append(f"anonymous {method.upper()} {own_url} -> {r.status_code}")
            # Signed in, no role, no team.
            r = _call(_client(personas, "mallory", api=route.is_api), method, own_url, api=route.is_api)
            checked += 1
            if route.name not in SIGNED_IN and r.status_code not in (403, 404, 405):
                failures.append(f"mallory {method.upper()} {own_url} -> {r.status_code}")
            for name in ROLE_PERSONAS:
                # Own team: never a server error.
                r = _call(_client(personas, name, api=route.is_api), method, own_url, api=route.is_api)
                checked += 1
                if r.status_code == 302 and method == "get" and not route.is_api and "/login/" not in r["Location"]:
                    r = _client(personas, name, api=False).get(r["Location"])
                if r.status_code >= 500:
                    failures.append(f"{name} {method.upper()} {own_url} -> {r.status_code}")
                if route.name in INGESTION_KEY_ROUTES and r.status_code != 403:
                    failures.append(f"{name} (personal token) {method.upper()} {own_url} -> {r.status_code}, not 403")
                if method == "get" and r.status_code == 200:
                    own_ok = True
                if not bound:
                    # A list (the sample explorer, My flags, flags, verdicts, alerts…) shows only the
                    # caller's teams' rows: the other team's text never appears in it.
                    body = b"" if getattr(r, "streaming", False) else r.content
                    if method == "get" and r.status_code == 200 and theirs.secret.encode() in body:
                        failures.append(f"{name} GET {own_url} lists the other team's data")
                    continue
                # Another team's object: refused, and none of its text comes back.
                their_url = _url(route, theirs.objects)
                r = _call(_client(personas, name, api=route.is_api), method, their_url, api=route.is_api)
                if r.status_code == 302 and not route.is_api:
                    # A page that redirects (e.g. GET on an action) must land on a refusal, not on the object.
                    r = _client(personas, name, api=False).get(r["Location"])
                checked += 1
                body = b"" if getattr(r, "streaming", False) else r.content
                if r.status_code not in (403, 404, 405) or theirs.secret.encode() in body:
                    failures.append(f"{name} (other team) {method.upper()} {their_url} -> {r.status_code}")
        if bound and "get" in route.methods and not own_ok:
            failures.append(f"no role reads {route.name} on its own team (fixture or route broken)")
    missing = INGESTION_KEY_ROUTES - {r.name for r in all_routes}
    assert not missing, f"ingestion-key routes not mounted: {sorted(missing)}"
    print(f"permission matrix: {len(all_routes)} routes, {checked} requests, {len(failures)} failures")
    assert not failures, "\n".join(failures)
