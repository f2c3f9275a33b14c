"""Action buttons follow the role held in the object's team, not in any team (issue 14): dana is an SME in team A
and a power user in team B; frank is an ML engineer in team A and an SME in team B."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drift_app.roles import ML_ENGINEER, POWER_USER, SME
from feedback.services import flag_create
from tests import factories
from tests.base import PASSWORD, join_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(personas):
    team_a, team_b = factories.team(name="Team A"), factories.team(name="Team B")
    a, b = factories.deployment(team=team_a), factories.deployment(team=team_b)
    join_team(personas.alice, POWER_USER, team_a)
    join_team(personas.alice, POWER_USER, team_b)
    dana = User.objects.create_user("dana", password=PASSWORD)
    join_team(dana, SME, team_a)
    join_team(dana, POWER_USER, team_b)
    frank = User.objects.create_user("frank", password=PASSWORD)
    join_team(frank, ML_ENGINEER, team_a)
    join_team(frank, SME, team_b)
    samples = {"a": factories.sample(a), "b": factories.sample(b)}
    for s in samples.values():
        flag_create(sample=s, user=personas.alice, reason="incorrect", comment="wrong")
    return {"a": a, "b": b, "samples": samples}


def _page(username: str, url: str) -> str:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _sample_url(sample) -> str:
    return f"/deployments/{sample.deployment.slug}/samples/{sample.pk}/"


def test_a_power_user_in_team_b_who_is_an_sme_in_team_a_sees_no_sme_content_on_b_samples(teams):
    page = _page("dana", _sample_url(teams["samples"]["b"]))
    assert "Flag this answer" in page  # her role in team B
    assert "Flags on this answer" not in page  # an SME's (reader's) section: her role in team A only


def test_on_her_sme_teams_sample_she_reads_the_flags_but_gets_no_power_user_flag_button(teams):
    page = _page("dana", _sample_url(teams["samples"]["a"]))
    assert "Flags on this answer" in page
    assert "Flag this answer" not in page


def test_the_sample_explorer_offers_a_flag_button_only_on_rows_of_her_power_user_team(teams):
    page = _page("dana", "/feedback/answers/")
    assert f'action="/feedback/samples/{teams["samples"]["b"].pk}/flag/"' in page
    assert f'action="/feedback/samples/{teams["samples"]["a"].pk}/flag/"' not in page


def test_an_ml_engineer_of_team_a_sees_no_operations_button_on_team_bs_deployment(teams):
    assert 'id="drift-operations-link"' in _page("frank", f"/deployments/{teams['a'].slug}/")
    assert 'id="drift-operations-link"' not in _page("frank", f"/deployments/{teams['b'].slug}/")
