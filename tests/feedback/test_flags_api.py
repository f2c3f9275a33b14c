"""Flags: POST/GET /api/v1/flags, duplicates, rate limit, roles."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from feedback.models import Flag
from tests.base import join_team

pytestmark = pytest.mark.django_db

URL = "/api/v1/flags"


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_a_power_user_flags_an_answer_by_sample_id(personas, samples):
    r = post(personas.api("alice"), {"sample_id": samples[0].pk, "reason": "incorrect", "comment": "Wrong menu."})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["sample_id"] == samples[0].pk and body["reason"] == "incorrect" and body["status"] == "open"
    assert body["flagged_by"] == "alice" and body["comment"] == "Wrong menu." and body["final_label"] == ""
    flag = Flag.objects.get(pk=body["id"])
    assert flag.deployment_id == samples[0].deployment_id and flag.required_labels == 1


def test_a_power_user_flags_an_answer_by_deployment_and_external_id(personas, deployment, samples):
    r = post(personas.api("alice"), {"deployment": deployment.slug, "external_id": "s-2", "reason": "outdated"})
    assert r.status_code == 201, r.content
    assert r.json()["sample_id"] == samples[2].pk


def test_a_second_flag_by_the_same_user_on_the_same_answer_is_refused_with_409(personas, samples):
    client = personas.api("alice")
    assert post(client, {"sample_id": samples[0].pk, "reason": "incorrect"}).status_code == 201
    r = post(client, {"sample_id": samples[0].pk, "reason": "harmful"})
    assert r.status_code == 409
    assert "already flagged" in r.json()["detail"]
    assert Flag.objects.count() == 1


def test_two_power_users_may_flag_the_same_answer(personas, samples, django_user_model):

    dave = django_user_model.objects.create_user("dave")
    join_team(dave, "power_user")  # a member of the personas' team
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(dave)
    assert post(personas.api("alice"), {"sample_id": samples[0].pk, "reason": "incorrect"}).status_code == 201
    assert post(other, {"sample_id": samples[0].pk, "reason": "incorrect"}).status_code == 201


@override_settings(DRIFTDESK_FLAG_RATE="3/hour")
def test_flagging_past_the_per_user_rate_limit_answers_429_with_a_clear_message(personas, samples):
    client = personas.api("alice")
    for s in samples[:3]:
        assert post(client, {"sample_id": s.pk, "reason": "unhelpful"}).status_code == 201
    r = post(client, {"sample_id": samples[3].pk, "reason": "unhelpful"})
    assert r.status_code == 429
    assert "Flag rate limit reached: at most 3 flags per hour per user" in r.json()["detail"]
    assert int(r["Retry-After"]) > 0
    assert Flag.objects.count() == 3
    # Reading one's own flags is not limited.
    assert client.get(URL).status_code == 200


@override_settings(DRIFTDESK_FLAG_RATE="1/hour")
def test_the_rate_limit_counts_per_user(personas, samples, django_user_model):
    from rest_framework.test import APIClient

    dave = django_user_model.objects.create_user("dave")
    join_team(dave, "power_user")  # a member of the personas' team
    other = APIClient()
    other.force_authenticate(dave)
    assert post(personas.api("alice"), {"sample_id": samples[0].pk, "reason": "other"}).status_code == 201
    assert post(personas.api("alice"), {"sample_id": samples[1].pk, "reason": "other"}).status_code == 429
    assert post(other, {"sample_id": samples[1].pk, "reason": "other"}).status_code == 201


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"reason": "incorrect"}, "give either sample_id, or deployment and external_id"),
        ({"sample_id": 1, "deployment": "x", "external_id": "y", "reason": "incorrect"}, "not both"),
        ({"deployment": "x", "reason": "incorrect"}, "go together"),
        ({"sample_id": "SAMPLE", "reason": "incorrect"}, "sample_id"),
        ({"sample_id": 1, "reason": "boring"}, "reason"),
        ({"sample_id": 1}, "reason"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(personas, samples, body, fragment):
    r = post(personas.api("alice"), body)
    assert r.status_code == 400, r.content
    assert fragment in r.json()["detail"]
    assert not Flag.objects.exists()


def test_it_answers_404_naming_an_unknown_sample(personas, deployment):
    r = post(personas.api("alice"), {"sample_id": 999999, "reason": "incorrect"})
    assert r.status_code == 404 and "999999" in r.json()["detail"]
    r = post(personas.api("alice"), {"deployment": deployment.slug, "external_id": "nope", "reason": "incorrect"})
    assert r.status_code == 404 and "'nope'" in r.json()["detail"]


@pytest.mark.parametrize("name", ["bob", "charlie", "erin", "mallory"])
def test_only_power_users_may_flag(personas, samples, name):
    r = post(personas.api(name), {"sample_id": samples[0].pk, "reason": "incorrect"})
    assert r.status_code == 403
    assert "power_user" in r.json()["detail"]
    assert not Flag.objects.exists()


def test_it_answers_401_without_a_token(personas, samples):
    assert post(personas.api(None), {"sample_id": samples[0].pk, "reason": "incorrect"}).status_code == 401


def test_a_power_user_sees_only_their_own_flags_and_what_became_of_them(personas, samples, flag, django_user_model):

    from feedback import services

    dave = django_user_model.objects.create_user("dave")
    join_team(dave, "power_user")  # a member of the personas' team
    other = services.flag_create(sample=samples[1], user=dave, reason="other")
    services.flag_claim(flag=flag, user=personas.bob)
    services.flag_label(flag=flag, user=personas.bob, label="confirmed_bad", comment="Menu moved.")

    r = personas.api("alice").get(URL)
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["id"] for row in rows] == [flag.pk]
    assert rows[0]["status"] == "resolved" and rows[0]["final_label"] == "confirmed_bad"
    detail = personas.api("alice").get(f"{URL}/{flag.pk}").json()
    assert detail["final_label"] == "confirmed_bad"
    assert "labels" not in detail  # the SMEs' working notes are not shown to the reporter
    r = personas.api("alice").get(f"{URL}/{other.pk}")
    assert r.status_code == 403 and "your own flags" in r.json()["detail"]


@pytest.mark.parametrize("name", ["bob", "charlie", "erin"])
def test_smes_compliance_and_ml_engineers_read_every_flag(personas, samples, flag, name):
    r = personas.api(name).get(URL)
    assert r.status_code == 200 and r.json()["count"] == 1
    detail = personas.api(name).get(f"{URL}/{flag.pk}").json()
    assert detail["labels"] == [] and detail["flagged_by"] == "alice"


def test_users_without_a_role_read_no_flags(personas, flag):
    assert personas.api("mallory").get(URL).status_code == 403
    assert personas.api("mallory").get(f"{URL}/{flag.pk}").status_code == 403


def test_the_flag_list_filters_by_status_and_refuses_an_unknown_status(personas, flag):
    client = personas.api("bob")
    assert client.get(URL, {"status": "open"}).json()["count"] == 1
    assert client.get(URL, {"status": "resolved"}).json()["count"] == 0
    r = client.get(URL, {"status": "closed"})
    assert r.status_code == 400 and "status must be one of" in r.json()["detail"]


def test_the_openapi_schema_documents_the_feedback_endpoints(personas):
    paths = personas.api("erin").get("/api/schema/?format=json").json()["paths"]
    for p in ["/api/v1/flags", "/api/v1/flags/{id}/claim", "/api/v1/flags/{id}/labels",
              "/api/v1/flags/{id}/adjudication", "/api/v1/flags/{id}/promotion",
              "/api/v1/deployments/{slug}/feedback-metrics", "/api/v1/feedback/triage", "/api/v1/feedback/agreement"]:
        assert p in paths, p
