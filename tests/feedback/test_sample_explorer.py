"""The sample explorer ("Find answers"): full-text search, filters, paging with counts, flag from the row,
team scope; My flags with the question, paging and filters; the flag form keeps the comment on an error."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from drift_app.models import Baseline, DriftRun, ProductionSample
from feedback import services
from feedback.filters import SEARCH_VECTOR
from feedback.models import Flag
from tests import factories
from tests.base import join_team
from tests.feedback.conftest import make_samples

pytestmark = pytest.mark.django_db

EXPLORER = "/feedback/answers/"


@pytest.fixture
def answers(deployment):
    """Six answers: two about refunds (one on model v2), four about keys; spread over six days."""
    start = timezone.now() - dt.timedelta(days=6)
    prompts = ["How do I get a refund for my order?", "Where is my invoice?", "Can I rotate my API key?",
               "How do I rotate keys safely?", "What does the refund policy say about late returns?",
               "How do I delete an API key?"]
    responses = ["Refunds go through Billing → Orders.", "Invoices are under Billing.", "Yes, in Settings.",
                 "Rotate one key at a time.", "Late returns get store credit.", "Settings → Keys → Delete."]
    v1 = make_samples(deployment, 4, start=start, step=dt.timedelta(days=1), prompts=prompts[:4],
                      responses=responses[:4], prefix="a")
    v2 = make_samples(deployment, 2, start=start + dt.timedelta(days=4), step=dt.timedelta(days=1),
                      prompts=prompts[4:], responses=responses[4:], prefix="b", model_version="v2")
    return v1 + v2


def rows(response) -> list[str]:
    return [s.prompt for s in response.context["page"].object_list]


def test_a_power_user_finds_answers_by_words_in_the_question_or_the_answer(client, personas, answers):
    client.force_login(personas.alice)
    r = client.get(EXPLORER, {"q": "refunds"})
    assert r.status_code == 200
    # Stemming: "refunds" finds "refund" in both questions; "Refunds go through…" is an answer.
    assert sorted(rows(r)) == ["How do I get a refund for my order?",
                               "What does the refund policy say about late returns?"]
    assert sorted(rows(client.get(EXPLORER, {"q": "store credit"}))) == [
        "What does the refund policy say about late returns?"]
    assert rows(client.get(EXPLORER, {"q": "refund -late"})) == ["How do I get a refund for my order?"]


def test_the_search_uses_the_gin_index_on_prompt_and_response(answers):
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        qs = (ProductionSample.objects.annotate(search=SEARCH_VECTOR).filter(search="refund").only("id"))
        sql, params = qs.query.sql_with_params()
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("SET enable_seqscan = on")
        # Samples are partitioned by month: each month has its own copy of the index, named after it.
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sample_fulltext'")
        copies = {r[0] for r in cur.fetchall()} | {"sample_fulltext"}
    assert "Bitmap Index Scan" in plan and any(name in plan for name in copies), plan


def test_filters_by_model_version_dates_and_flags_combine(client, personas, answers):
    services.flag_create(sample=answers[0], user=personas.alice, reason="incorrect")
    client.force_login(personas.alice)
    assert sorted(rows(client.get(EXPLORER, {"model_version": "v2"}))) == sorted(s.prompt for s in answers[4:])
    day = answers[2].client_timestamp.date().isoformat()
    assert rows(client.get(EXPLORER, {"served_after": day, "served_before": day})) == [answers[2].prompt]
    assert rows(client.get(EXPLORER, {"flags": "flagged"})) == [answers[0].prompt]
    assert rows(client.get(EXPLORER, {"flags": "mine", "q": "refund"})) == [answers[0].prompt]
    assert answers[0].prompt not in rows(client.get(EXPLORER, {"flags": "unflagged"}))


def test_a_flag_confirmed_by_an_sme_is_found_under_confirmed_not_waiting(client, personas, answers):
    flag = services.flag_create(sample=answers[1], user=personas.alice, reason="incorrect")
    client.force_login(personas.alice)
    assert rows(client.get(EXPLORER, {"flags": "waiting"})) == [answers[1].prompt]
    services.flag_claim(flag=flag, user=personas.bob)
    services.flag_label(flag=flag, user=personas.bob, label="confirmed_bad")
    assert Flag.objects.get(pk=flag.pk).status == Flag.Status.RESOLVED
    assert rows(client.get(EXPLORER, {"flags": "confirmed"})) == [answers[1].prompt]
    assert rows(client.get(EXPLORER, {"flags": "waiting"})) == []


def test_the_score_filter_keeps_answers_within_the_bounds(client, personas, deployment, answers):
    for s, reward in zip(answers, [0.1, 0.9, 0.5, None, 0.2, 0.95], strict=True):
        if reward is not None:
            ProductionSample.objects.filter(pk=s.pk).update(scores={"reward": reward})
    client.force_login(personas.erin)
    r = client.get(EXPLORER, {"score": "reward", "score_max": "0.3"})
    assert sorted(rows(r)) == sorted([answers[0].prompt, answers[4].prompt])
    assert sorted(rows(client.get(EXPLORER, {"score": "reward", "score_min": "0.9"}))) == sorted(
        [answers[1].prompt, answers[5].prompt])


def test_a_topic_filter_finds_the_window_prompts_that_match_its_keywords(client, personas, deployment, answers):
    baseline = Baseline.objects.create(
        deployment=deployment, period_start=answers[0].client_timestamp - dt.timedelta(days=30),
        period_end=answers[0].client_timestamp - dt.timedelta(days=1),
    )
    run = DriftRun.objects.create(
        deployment=deployment, baseline=baseline, target=DriftRun.Target.PROMPTS, status=DriftRun.Status.COMPLETED,
        window_start=answers[0].client_timestamp - dt.timedelta(hours=1),
        window_end=answers[3].client_timestamp + dt.timedelta(hours=1),
        topics=[{"keywords": ["rotate", "key"], "size": 2, "share": 0.5, "sample_ids": [], "representative_texts": []}],
    )
    client.force_login(personas.bob)
    r = client.get(EXPLORER, {"topic": f"{run.pk}-0"})
    # Both key questions inside the run's window; "delete an API key" (answers[5]) is served after it.
    assert sorted(rows(r)) == sorted([answers[2].prompt, answers[3].prompt])


def test_bad_filter_input_is_a_400_naming_the_field(client, personas, answers):
    client.force_login(personas.alice)
    r = client.get(EXPLORER, {"served_after": "last tuesday"})
    assert r.status_code == 400 and "Served from" in r.content.decode() and "valid date" in r.content.decode()
    r = client.get(EXPLORER, {"score_max": "0.3"})
    assert r.status_code == 400 and "choose which score" in r.content.decode()
    r = client.get(EXPLORER, {"flags": "bogus"})
    assert r.status_code == 400 and "Flags" in r.content.decode()


def test_the_list_pages_by_fifty_with_counts_and_keeps_the_filters_in_the_links(client, personas, deployment):
    make_samples(deployment, 120, prefix="p")
    client.force_login(personas.alice)
    page = client.get(EXPLORER, {"q": "rotate", "page": "2"}).content.decode()
    assert "Showing 51–100 of 120 answers" in page and "page 2 of 3" in page
    assert "?q=rotate&amp;page=3" in page and "?q=rotate&amp;page=1" in page


def test_an_answer_of_another_team_is_never_listed(client, personas, answers):
    other_team = factories.team(slug="other", name="Other")
    other = factories.deployment(slug="elsewhere", team=other_team)
    make_samples(other, 3, prefix="x", prompts=["refund elsewhere"] * 3)
    client.force_login(personas.alice)
    r = client.get(EXPLORER, {"q": "refund"})
    assert "refund elsewhere" not in rows(r)
    assert r.context["filter"].form.fields["deployment"].choices[1:] == [(answers[0].deployment.slug,
                                                                         answers[0].deployment.name)]
    mallory_team_member = personas.mallory
    join_team(mallory_team_member, "power_user", other_team)
    client.force_login(mallory_team_member)
    assert sorted(rows(client.get(EXPLORER, {"q": "refund"}))) == ["refund elsewhere"] * 3


def test_a_power_user_flags_from_the_row_and_returns_to_the_same_search(client, personas, answers):
    client.force_login(personas.alice)
    page = client.get(EXPLORER, {"q": "invoice"}).content.decode()
    assert f'action="/feedback/samples/{answers[1].pk}/flag/"' in page
    r = client.post(f"/feedback/samples/{answers[1].pk}/flag/",
                    {"reason": "outdated", "comment": "Invoices moved.", "next": f"{EXPLORER}?q=invoice"})
    assert r.status_code == 302 and r["Location"] == f"{EXPLORER}?q=invoice"
    assert Flag.objects.get(sample=answers[1]).flagged_by == personas.alice
    page = client.get(EXPLORER, {"q": "invoice"}).content.decode()
    assert "You flagged it" in page


def test_the_flag_redirect_never_leaves_the_site(client, personas, answers):
    client.force_login(personas.alice)
    r = client.post(f"/feedback/samples/{answers[1].pk}/flag/",
                    {"reason": "outdated", "next": "https://evil.example/phish"})
    assert r.status_code == 302 and r["Location"].startswith(f"/deployments/{answers[1].deployment.slug}/samples/")


def test_a_refused_flag_keeps_the_typed_comment_and_says_what_to_do(client, personas, answers):
    client.force_login(personas.alice)
    r = client.post(f"/feedback/samples/{answers[1].pk}/flag/", {"reason": "", "comment": "The menu moved in May."})
    page = r.content.decode()
    assert r.status_code == 400
    assert "The menu moved in May.</textarea>" in page and "Choose what is wrong with the answer" in page
    assert Flag.objects.count() == 0


def test_sme_and_compliance_read_the_explorer_without_a_flag_control(client, personas, answers):
    for who in (personas.bob, personas.charlie, personas.erin):
        client.force_login(who)
        r = client.get(EXPLORER)
        assert r.status_code == 200 and len(rows(r)) == 6
        assert "/flag/" not in r.content.decode()


def test_my_flags_shows_the_question_pages_and_filters(client, personas, deployment):
    samples = make_samples(deployment, 60, prefix="m")
    for s in samples:
        services.flag_create(sample=s, user=personas.alice, reason="incorrect", comment=f"note {s.external_id}")
    client.force_login(personas.alice)
    r = client.get("/feedback/mine/")
    page = r.content.decode()
    assert "How do I rotate the API key for project 59?" in page
    assert "Showing 1–50 of 60 flags" in page
    r = client.get("/feedback/mine/", {"q": "project 7?"})
    assert [f.sample.external_id for f in r.context["page"].object_list] == ["m-7"]
    assert client.get("/feedback/mine/", {"status": "resolved"}).context["page"].paginator.count == 0
    assert client.get("/feedback/mine/", {"status": "nope"}).status_code == 400
