"""SME triage: claims and locks, labels, overlap, adjudication, priority, role checks."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from drift_app import services as drift_services
from feedback import selectors, services
from feedback.models import DeploymentFeedbackSettings, Flag
from tests.base import join_team

from .conftest import make_samples

pytestmark = pytest.mark.django_db


def api_post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def claim_and_label(client, flag_id, label="confirmed_bad", **extra):
    assert api_post(client, f"/api/v1/flags/{flag_id}/claim").status_code == 200
    return api_post(client, f"/api/v1/flags/{flag_id}/labels", {"label": label, **extra})


def test_an_sme_claims_and_labels_a_flag_which_resolves_it(personas, flag):
    bob = personas.api("bob")
    r = api_post(bob, f"/api/v1/flags/{flag.pk}/claim")
    assert r.status_code == 200
    assert r.json()["claimed_by"] == "bob"
    until = dt.datetime.fromisoformat(r.json()["claimed_until"])
    assert dt.timedelta(minutes=14) < until - timezone.now() <= dt.timedelta(minutes=15)
    r = api_post(bob, f"/api/v1/flags/{flag.pk}/labels",
                 {"label": "confirmed_bad", "comment": "Menu moved.", "corrected_answer": "Open Admin → Keys."})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "resolved" and body["final_label"] == "confirmed_bad"
    assert body["claimed_by"] is None  # labelling gives the claim back
    assert body["labels"][0]["corrected_answer"] == "Open Admin → Keys."


def test_a_claimed_flag_is_locked_against_a_second_sme(personas, flag):
    assert api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/claim").status_code == 200
    r = api_post(personas.api("carol"), f"/api/v1/flags/{flag.pk}/claim")
    assert r.status_code == 409
    assert "claimed by bob until" in r.json()["detail"]
    r = api_post(personas.api("carol"), f"/api/v1/flags/{flag.pk}/labels", {"label": "not_a_problem"})
    assert r.status_code == 409 and "claimed by bob" in r.json()["detail"]


def test_labelling_without_a_claim_is_refused(personas, flag):
    r = api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/labels", {"label": "not_a_problem"})
    assert r.status_code == 409
    assert "Claim flag" in r.json()["detail"]


def test_an_expired_claim_frees_the_flag_for_another_sme_and_its_holder_can_no_longer_label(personas, flag):
    past = timezone.now() - dt.timedelta(minutes=20)
    services.flag_claim(flag=flag, user=personas.bob, now=past)
    with pytest.raises(services.Conflict, match="ran out"):
        services.flag_label(flag=flag, user=personas.bob, label="confirmed_bad")
    claimed = services.flag_claim(flag=flag, user=personas.carol)
    assert claimed.claimed_by == personas.carol


def test_the_claim_time_comes_from_the_deployment_settings(personas, flag):
    DeploymentFeedbackSettings.objects.create(deployment=flag.deployment, claim_minutes=3)
    now = timezone.now()
    claimed = services.flag_claim(flag=flag, user=personas.bob, now=now)
    assert claimed.claimed_until == now + dt.timedelta(minutes=3)


def test_releasing_a_claim_lets_another_sme_claim_it(personas, flag):
    bob = personas.api("bob")
    api_post(bob, f"/api/v1/flags/{flag.pk}/claim")
    assert bob.delete(f"/api/v1/flags/{flag.pk}/claim").status_code == 200
    assert api_post(personas.api("carol"), f"/api/v1/flags/{flag.pk}/claim").status_code == 200
    r = personas.api("bob").delete(f"/api/v1/flags/{flag.pk}/claim")
    assert r.status_code == 409 and "not claimed by you" in r.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_two_smes_claiming_at_the_same_moment_never_both_win(personas, deployment, monkeypatch):
    sample = make_samples(deployment, 1)[0]
    flag = services.flag_create(sample=sample, user=personas.alice, reason="harmful")
    real = selectors.feedback_settings

    def slow_settings(**kwargs):
        # Hold the row lock a while, so the second SME's claim really arrives while the first is deciding.
        import time

        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "feedback_settings", slow_settings)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim(user):
        try:
            barrier.wait()
            services.flag_claim(flag=Flag(pk=flag.pk), user=user)
            outcomes[user.username] = "won"
        except services.FlagLocked as exc:
            outcomes[user.username] = exc.message
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (personas.bob, personas.carol)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["bob", "carol"]
    winners = [name for name, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    loser = ({"bob", "carol"} - set(winners)).pop()
    assert f"claimed by {winners[0]}" in outcomes[loser]
    assert Flag.objects.get(pk=flag.pk).claimed_by.username == winners[0]


def test_with_overlap_two_a_flag_needs_two_smes_and_agreeing_labels_resolve_it(personas, deployment, samples):
    DeploymentFeedbackSettings.objects.create(deployment=deployment, overlap=2)
    flag = services.flag_create(sample=samples[1], user=personas.alice, reason="incorrect")
    assert flag.required_labels == 2
    assert claim_and_label(personas.api("bob"), flag.pk).json()["status"] == "open"
    # The same SME may not give the second label.
    r = api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/claim")
    assert r.status_code == 409 and "already labelled" in r.json()["detail"]
    body = claim_and_label(personas.api("carol"), flag.pk).json()
    assert body["status"] == "resolved" and body["final_label"] == "confirmed_bad"


def test_a_disagreement_goes_to_adjudication_whose_label_wins(personas, deployment, samples):
    DeploymentFeedbackSettings.objects.create(deployment=deployment, overlap=2)
    flag = services.flag_create(sample=samples[1], user=personas.alice, reason="outdated")
    claim_and_label(personas.api("bob"), flag.pk, "confirmed_bad")
    body = claim_and_label(personas.api("carol"), flag.pk, "outdated_knowledge").json()
    assert body["status"] == "adjudication" and body["final_label"] == ""
    # No more labels once the overlap is reached.
    r = api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/labels", {"label": "confirmed_bad"})
    assert r.status_code == 409
    bob = personas.api("bob")
    assert api_post(bob, f"/api/v1/flags/{flag.pk}/claim").status_code == 200
    r = api_post(bob, f"/api/v1/flags/{flag.pk}/adjudication", {"label": "outdated_knowledge"})
    assert r.status_code == 400 and "comment" in r.json()["detail"]
    r = api_post(bob, f"/api/v1/flags/{flag.pk}/adjudication",
                 {"label": "outdated_knowledge", "comment": "The price list changed in March."})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "resolved" and body["final_label"] == "outdated_knowledge"
    assert body["adjudication"]["adjudicator"] == "bob"
    assert [lab["label"] for lab in body["labels"]] == ["confirmed_bad", "outdated_knowledge"]


def test_a_flag_that_is_not_disputed_cannot_be_adjudicated(personas, flag):
    api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/claim")
    r = api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/adjudication", {"label": "confirmed_bad", "comment": "x"})
    assert r.status_code == 409 and "only disagreements" in r.json()["detail"]


def test_a_resolved_flag_cannot_be_claimed_again(personas, flag):
    claim_and_label(personas.api("bob"), flag.pk, "not_a_problem")
    r = api_post(personas.api("carol"), f"/api/v1/flags/{flag.pk}/claim")
    assert r.status_code == 409 and "already resolved" in r.json()["detail"]


def test_an_unknown_label_is_rejected_naming_the_field(personas, flag):
    api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/claim")
    r = api_post(personas.api("bob"), f"/api/v1/flags/{flag.pk}/labels", {"label": "meh"})
    assert r.status_code == 400 and r.json()["detail"].startswith("Invalid label: label:")


@pytest.mark.parametrize("name", ["alice", "charlie", "erin", "mallory"])
def test_only_smes_claim_label_adjudicate_or_promote(personas, flag, name):
    client = personas.api(name)
    for path, body in [("claim", {}), ("labels", {"label": "confirmed_bad"}),
                       ("adjudication", {"label": "confirmed_bad", "comment": "x"}),
                       ("promotion", {"category": "x", "reason": "y"})]:
        r = api_post(client, f"/api/v1/flags/{flag.pk}/{path}", body)
        assert r.status_code == 403, (path, r.content)
        assert "sme" in r.json()["detail"]
    assert not flag.labels.exists()


def test_the_services_refuse_a_power_user_even_when_called_directly(personas, flag):
    with pytest.raises(services.NotAllowed):
        services.flag_claim(flag=flag, user=personas.alice)
    with pytest.raises(services.NotAllowed):
        services.flag_create(sample=flag.sample, user=personas.bob, reason="incorrect")


@pytest.mark.parametrize("name, status", [("bob", 200), ("charlie", 200), ("erin", 200), ("alice", 403), ("mallory", 403)])
def test_the_triage_queue_is_read_by_smes_compliance_and_ml_engineers_only(personas, flag, name, status):
    assert personas.api(name).get("/api/v1/feedback/triage").status_code == status


def _store_vectors(samples, vectors):
    drift_services.samples_store_vectors(
        ids=np.array([s.pk for s in samples], dtype=np.int64),
        prompt_vectors=np.asarray(vectors, dtype=np.float32),
        response_vectors=np.asarray(vectors, dtype=np.float32),
    )


def test_the_queue_ranks_flags_on_near_identical_answers_first_then_severity_then_age(personas, deployment, django_user_model):
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="power_user")
    users = [personas.alice]
    for name in ("dave", "eve"):
        u = django_user_model.objects.create_user(name)
        join_team(u, "power_user")
        users.append(u)
    samples = make_samples(deployment, 5)
    rng = np.random.default_rng(0)
    base = rng.normal(size=384)
    near = [base + rng.normal(scale=0.01, size=384) for _ in range(3)]  # three near-identical answers
    far = [rng.normal(size=384) for _ in range(2)]
    vectors = np.array(near + far)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _store_vectors(samples, vectors)

    t0 = timezone.now() - dt.timedelta(days=3)
    made = {}
    for key, sample, user, reason, age_h in [
        ("near_a", samples[0], users[0], "unhelpful", 1),
        ("near_b", samples[1], users[1], "other", 2),
        ("near_c", samples[2], users[2], "unhelpful", 3),
        ("harmful", samples[3], users[0], "harmful", 5),
        ("old_incorrect", samples[4], users[0], "incorrect", 48),
        ("new_incorrect", samples[4], users[1], "incorrect", 0),
    ]:
        f = services.flag_create(sample=sample, user=user, reason=reason)
        Flag.objects.filter(pk=f.pk).update(created_at=t0 - dt.timedelta(hours=age_h))
        made[key] = f.pk

    items = selectors.triage_queue(user=personas.bob)
    order = [next(k for k, v in made.items() if v == i.flag.pk) for i in items]
    counts = {next(k for k, v in made.items() if v == i.flag.pk): i.near_identical for i in items}
    assert counts == {"near_a": 3, "near_b": 3, "near_c": 3, "old_incorrect": 2, "new_incorrect": 2, "harmful": 1}
    # 3 near-identical (by severity: unhelpful ones oldest first, then other); then the two on one answer
    # (oldest first); then the single harmful flag.
    assert order == ["near_c", "near_a", "near_b", "old_incorrect", "new_incorrect", "harmful"]
    api = personas.api("bob").get("/api/v1/feedback/triage").json()
    assert [row["flag"]["id"] for row in api] == [made[k] for k in order]
    assert api[0]["near_identical"] == 3 and api[0]["severity"] == 2


def test_resolved_flags_leave_the_queue(personas, deployment, samples):
    f1 = services.flag_create(sample=samples[0], user=personas.alice, reason="incorrect")
    services.flag_claim(flag=f1, user=personas.bob)
    services.flag_label(flag=f1, user=personas.bob, label="not_a_problem")
    assert selectors.triage_queue(user=personas.bob) == []
