"""Import/export, the API and the pages, with the role of every persona."""

from __future__ import annotations

import json

import pytest

from goldenset.models import GoldenItem

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def jsonl(*rows):
    return "\n".join(json.dumps(r) for r in rows)


ROW = {"prompt": "How do I reset my password?", "reference_answer": "Use Forgot password.", "category": "accounts",
       "tags": ["login"], "must_include": ["Forgot password"]}


def test_import_reports_each_bad_row_and_stores_nothing(personas):
    content = jsonl(ROW, {"prompt": "", "reference_answer": "x", "category": "a"},
                    {"prompt": "p", "category": "a", "regex": "("}) + "\n{not json"
    r = post(personas.api("bob"), "/api/v1/golden/import", {"format": "jsonl", "content": content, "reason": "seed"})
    assert r.status_code == 400
    problems = {(p["row"], p["field"]) for p in r.json()["problems"]}
    assert problems == {(2, "prompt"), (3, "reference_answer"), (3, "acceptance.regex"), (4, "line")}
    assert not GoldenItem.objects.exists()


def test_csv_import_splits_lists_on_bars_and_round_trips_through_export(personas):
    csv_text = ("prompt,reference_answer,category,tags,must_include,must_not_include,regex\n"
                '"What does Pro cost?","$49 per month, billed monthly",billing,pricing|plans,$49,,per month\n')
    client = personas.api("bob")
    r = post(client, "/api/v1/golden/import", {"format": "csv", "content": csv_text, "reason": "seed"})
    assert r.status_code == 201, r.content
    item = GoldenItem.objects.get()
    assert item.source == "imported" and item.status == "draft" and item.tags == ["plans", "pricing"]
    assert item.acceptance == {"must_include": ["$49"], "regex": "per month"}
    exported = client.get("/api/v1/golden/export?file_format=jsonl").content.decode()
    assert json.loads(exported)["acceptance"] == item.acceptance
    assert "pricing|plans" in client.get("/api/v1/golden/export?file_format=csv").content.decode().replace("plans|pricing", "pricing|plans")


def test_near_duplicates_are_reported_not_added_until_the_sme_accepts_them(personas):
    client = personas.api("bob")
    post(client, "/api/v1/golden/import", {"format": "jsonl", "content": jsonl(ROW), "reason": "seed"})
    dup = dict(ROW, prompt="How do I reset my password ?")
    r = post(client, "/api/v1/golden/import", {"format": "jsonl", "content": jsonl(dup), "reason": "more"})
    body = r.json()
    assert r.status_code == 200 and body["created"] == 0
    [d] = body["near_duplicates"]
    assert d["row"] == 1 and d["similarity"] >= 0.95 and d["existing_item_id"] == GoldenItem.objects.get().pk
    r = post(client, "/api/v1/golden/import", {"format": "jsonl", "content": jsonl(dup), "reason": "keep",
                                               "accept_duplicate_rows": [1]})
    assert r.status_code == 201 and GoldenItem.objects.count() == 2


@pytest.mark.parametrize("name, status", [("bob", 201), ("alice", 403), ("charlie", 403), ("erin", 403), ("mallory", 403)])
def test_only_smes_create_items(personas, name, status):
    r = post(personas.api(name), "/api/v1/golden/items",
             {"prompt": "p?", "reference_answer": "a", "category": "api", "reason": "new"})
    assert r.status_code == status


@pytest.mark.parametrize("name, status", [("bob", 200), ("alice", 200), ("charlie", 200), ("erin", 200), ("mallory", 403)])
def test_every_role_reads_the_golden_set(personas, golden, name, status):
    assert personas.api(name).get("/api/v1/golden/items").status_code == status
    assert personas.api(name).get("/api/v1/golden/versions/1").status_code == status


def test_the_api_names_the_problem_in_bad_input(personas):
    r = post(personas.api("bob"), "/api/v1/golden/items", {"prompt": "", "reference_answer": "a", "category": "x",
                                                          "acceptance": {"regex": "("}, "reason": "r"})
    assert r.status_code == 400 and set(r.json()["errors"]) == {"prompt", "acceptance.regex"}
    r = post(personas.api("bob"), "/api/v1/golden/items", {"colour": "blue"})
    assert r.status_code == 400 and "colour" in r.json()["detail"]


def test_the_review_flow_through_the_api_keeps_four_eyes(personas):
    bob, carol = personas.api("bob"), personas.api("carol")
    pk = post(bob, "/api/v1/golden/items", {"prompt": "p?", "reference_answer": "a", "category": "api", "reason": "new"}).json()["id"]
    assert post(bob, f"/api/v1/golden/items/{pk}/submit", {"reason": "ready"}).status_code == 200
    r = post(bob, f"/api/v1/golden/items/{pk}/approve", {"reason": "mine"})
    assert r.status_code == 400 and "Four eyes" in r.json()["detail"]
    assert post(personas.api("charlie"), f"/api/v1/golden/items/{pk}/approve", {"reason": "x"}).status_code == 403
    r = post(carol, f"/api/v1/golden/items/{pk}/approve", {"reason": "ok"})
    assert r.status_code == 200 and r.json()["approver"] == "carol"
    assert personas.api("alice").get("/api/v1/golden/versions/1/diff/1").json()["added"] == []
    assert len(bob.get(f"/api/v1/golden/items/{pk}/history").json()) == 3


def test_only_ml_engineers_start_runs_and_everybody_reads_them(personas, golden, deployment):
    body = {"model_version": "v1", "answers": [{"golden_item_id": golden[0].pk, "answer": "$49"}]}
    url = f"/api/v1/deployments/{deployment.slug}/golden/runs"
    for name in ("bob", "alice", "charlie"):
        assert post(personas.api(name), url, body).status_code == 403
    r = post(personas.api("erin"), url, body)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert personas.api("charlie").get(f"/api/v1/golden/runs/{r.json()['id']}").status_code == 200
    bad = post(personas.api("erin"), url, {"answers": [{"golden_item_id": "x", "answer": 3}]})
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"golden_item_id", "answer"}


def test_only_ml_engineers_configure_the_endpoint_and_the_key_is_never_stored(personas, deployment):
    url = f"/api/v1/deployments/{deployment.slug}/golden/config"
    body = {"endpoint_base_url": "http://127.0.0.1:9/v1", "endpoint_model": "m", "api_key_env": "DRIFTDESK_LLM_KEY_ACME",
            "similarity_threshold": 0.85}
    assert personas.api("bob").put(url, data=json.dumps(body), content_type="application/json").status_code == 403
    r = personas.api("erin").put(url, data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200 and r.json()["api_key_env"] == "DRIFTDESK_LLM_KEY_ACME"
    r = personas.api("erin").put(url, data=json.dumps({"similarity_threshold": 2}), content_type="application/json")
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/golden/", "/golden/versions/", "/golden/evaluations/"])
def test_read_pages_open_for_every_role_but_not_without_one(client, personas, golden, path):
    for name in ("bob", "alice", "charlie", "erin"):
        client.force_login(getattr(personas, name))
        assert client.get(path).status_code == 200
    client.force_login(personas.mallory)
    assert client.get(path).status_code == 403


def test_sme_pages_refuse_read_only_roles(client, personas, golden):
    for path in ("/golden/review/", "/golden/items/new/", "/golden/import/", f"/golden/items/{golden[0].pk}/edit/"):
        client.force_login(personas.alice)
        assert client.get(path).status_code == 403
        client.force_login(personas.bob)
        assert client.get(path).status_code == 200
    client.force_login(personas.charlie)
    r = client.post(f"/golden/items/{golden[0].pk}/", {"action": "retire", "reason": "x"})
    assert r.status_code == 403


def test_an_sme_curates_in_the_browser_and_the_item_page_highlights_pii(client, personas):
    client.force_login(personas.bob)
    r = client.post("/golden/items/new/", {"prompt": "Mail jane@example.com about the invoice?",
                                           "reference_answer": "Use Billing → Invoices.", "category": "billing",
                                           "must_include": "Invoices", "reason": "from a ticket"})
    item = GoldenItem.objects.get()
    assert r.status_code == 302 and item.acceptance == {"must_include": ["Invoices"]}
    page = client.get(f"/golden/items/{item.pk}/").content.decode()
    assert '<mark class="pii" title="email">jane@example.com</mark>' in page
    client.post(f"/golden/items/{item.pk}/", {"action": "submit", "reason": "ready"})
    item.refresh_from_db()
    assert item.status == "draft"  # refused: unacknowledged PII
    client.post(f"/golden/items/{item.pk}/", {"action": "acknowledge_pii", "reason": "fake address"})
    client.post(f"/golden/items/{item.pk}/", {"action": "submit", "reason": "ready"})
    client.force_login(personas.carol)
    assert "Approve selected" in client.get("/golden/review/").content.decode()
    client.post("/golden/review/", {"items": [item.pk], "reason": "ok"})
    item.refresh_from_db()
    assert item.status == "approved" and item.approver == personas.carol


def test_the_openapi_schema_documents_the_golden_set_endpoints(personas):
    paths = personas.api("erin").get("/api/schema/?format=json").json()["paths"]
    for path in ("/api/v1/golden/items", "/api/v1/golden/import", "/api/v1/golden/versions/{old}/diff/{new}",
                 "/api/v1/deployments/{slug}/golden/runs", "/api/v1/deployments/{slug}/golden/coverage-gaps"):
        assert path in paths
