"""Navigation: Dashboard, Verdicts and Alerts for the roles that may open them, the current page marked,
breadcrumbs on detail pages, a deployment's page linking to its own dashboard, one name per queue."""

from __future__ import annotations

import re

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def main_nav(html: str) -> str:
    return re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)


def links(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r"<a [^>]*>(.*?)</a>", main_nav(html), re.S)]


@pytest.mark.parametrize("name", ["bob", "charlie", "erin"])
def test_readers_reach_dashboard_verdicts_and_alerts_from_the_navigation(client, personas, name):
    factories.deployment(slug="only-one")
    client.force_login(getattr(personas, name))
    html = client.get("/").content.decode()
    assert {"Dashboard", "Verdicts", "Alerts", "Find answers"} <= set(links(html))
    # One deployment: the Dashboard link opens its dashboard directly.
    assert 'href="/deployments/only-one/dashboard/">Dashboard</a>' in main_nav(html)


def test_a_power_user_sees_only_what_they_may_open(client, personas):
    client.force_login(personas.alice)
    names = links(client.get("/").content.decode())
    assert {"Find answers", "My flags"} <= set(names)
    assert not {"Dashboard", "Verdicts", "Alerts", "Deployments", "Triage"} & set(names)


def test_with_several_deployments_dashboard_leads_to_the_list_of_the_callers_own(client, personas):
    factories.deployment(slug="one")
    factories.deployment(slug="two")
    factories.deployment(slug="theirs", team=factories.team(slug="elsewhere"))
    client.force_login(personas.bob)
    html = client.get("/").content.decode()
    assert 'href="/deployments/">Dashboard</a>' in main_nav(html)
    listing = client.get("/deployments/").content.decode()
    assert "/deployments/one/dashboard/" in listing and "/deployments/theirs/" not in listing


def test_the_current_page_is_marked_once(client, personas):
    client.force_login(personas.bob)
    for url, label in [("/verdicts/", "Verdicts"), ("/alerts/", "Alerts"), ("/golden/review/", "Golden approvals"),
                       ("/golden/", "Golden set"), ("/feedback/answers/", "Find answers"), ("/", "Home")]:
        marked = re.findall(r'<a [^>]*aria-current="[a-z]+"[^>]*>(.*?)</a>', main_nav(client.get(url).content.decode()))
        assert marked == [label], (url, marked)


def test_a_deployment_page_links_to_its_dashboard_and_has_breadcrumbs(client, personas):
    deployment = factories.deployment(slug="support")
    client.force_login(personas.erin)
    html = client.get("/deployments/support/").content.decode()
    assert 'href="/deployments/support/dashboard/">Dashboard</a>' in html
    crumbs = re.search(r'<nav aria-label="Breadcrumb".*?</nav>', html, re.S).group(0)
    assert "Deployments" in crumbs and f'aria-current="page">{deployment.name}<' in crumbs


def test_a_sample_page_has_breadcrumbs_back_to_the_explorer(client, personas):
    sample = factories.sample(factories.deployment(slug="support"))
    client.force_login(personas.alice)
    html = client.get(f"/deployments/support/samples/{sample.pk}/").content.decode()
    crumbs = re.search(r'<nav aria-label="Breadcrumb".*?</nav>', html, re.S).group(0)
    assert 'href="/feedback/answers/?deployment=support"' in crumbs


def test_the_two_queues_have_two_names(client, personas):
    client.force_login(personas.bob)
    home = client.get("/").content.decode()
    assert "Golden approvals" in home and "Weekly review queue" in home
    assert ">Review queue<" not in home


def test_no_page_submits_a_form_when_a_select_changes(client, personas):
    client.force_login(personas.bob)
    for url in ["/", "/feedback/triage/", "/feedback/answers/", "/verdicts/", "/alerts/"]:
        html = client.get(url).content.decode()
        assert "autosubmit" not in html and "onchange" not in html, url
