"""Evaluation runs: uploaded answers, the baseline comparison, and a real local model endpoint."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from drift_app.models import default_team_id
from goldenset import selectors, services
from goldenset.llm_client import ChatClient
from goldenset.models import EvalRun

pytestmark = pytest.mark.django_db


def run_uploaded(deployment, items, answers: list[str], model_version: str):
    run = services.eval_run_create(deployment=deployment, model_version=model_version, queue=False,
                                   answers={i.pk: a for i, a in zip(items, answers)})
    return services.eval_run_execute(run=run)


GOOD = ["The Pro plan costs $49 per month.", "We keep access logs for 90 days.",
        "Click Forgot password on the sign-in page."]


def test_a_run_pins_the_latest_version_and_scores_each_item(deployment, golden):
    run = run_uploaded(deployment, golden, GOOD, "v1")
    assert run.status == "succeeded" and run.golden_version == selectors.golden_version_latest(team=default_team_id())
    assert run.pass_rate == 1.0 and run.category_pass_rates == {"accounts": 1.0, "billing": 1.0, "security": 1.0}
    assert run.is_baseline  # the first successful run becomes the baseline
    results = {r.item_id: r for r in run.results.all()}
    assert results[golden[0].pk].exact_match and results[golden[0].pk].score == 1.0
    assert results[golden[1].pk].similarity >= 0.8 and results[golden[1].pk].acceptance_ok


def test_a_later_run_reports_the_relative_drop_and_the_regressed_items(deployment, golden):
    baseline = run_uploaded(deployment, golden, GOOD, "v1")
    bad = run_uploaded(deployment, golden, ["The Pro plan costs $59 per month.", GOOD[1], GOOD[2]], "v3")
    assert bad.baseline_run == baseline and not bad.is_baseline
    assert bad.pass_rate == pytest.approx(2 / 3, abs=1e-3)
    assert bad.relative_drop_pct == pytest.approx(33.33, abs=0.01)
    assert bad.regressed_count == 1
    first = selectors.eval_result_list(run=bad).first()
    assert first.regressed and first.item_id == golden[0].pk
    assert "missing required term '$49'" in first.acceptance_problems
    assert list(selectors.eval_run_list(deployment=deployment)) == [bad, baseline]


def test_items_without_an_uploaded_answer_are_errored_not_failed(deployment, golden):
    run = services.eval_run_execute(run=services.eval_run_create(
        deployment=deployment, answers={golden[0].pk: GOOD[0]}, queue=False))
    assert (run.passed_count, run.failed_count, run.errored_count) == (1, 0, 2)
    assert run.pass_rate == 1.0


def test_answers_for_unknown_items_are_refused(deployment, golden):
    with pytest.raises(ValidationError, match="not in version"):
        services.eval_run_create(deployment=deployment, answers={999999: "x"}, queue=False)


def test_a_run_needs_an_endpoint_or_answers(deployment, golden):
    with pytest.raises(ValidationError, match="no model endpoint"):
        services.eval_run_create(deployment=deployment, queue=False)


def test_the_baseline_can_be_moved_to_another_run(deployment, golden, personas):
    run_uploaded(deployment, golden, GOOD, "v1")
    second = run_uploaded(deployment, golden, GOOD, "v2")
    services.eval_run_set_baseline(run=second, user=personas.erin, reason="v2 is the new normal")
    assert selectors.eval_baseline_run(deployment=deployment) == second


def configure(deployment, server, **extra):
    fields = dict(endpoint_base_url=server.url, endpoint_model="acme-ft-v4", api_key_env="DRIFTDESK_LLM_KEY_GOLDEN_TEST",
                  timeout_s=0.5, max_retries=2, concurrency=4)
    fields.update(extra)
    return services.eval_config_update(deployment=deployment, **fields)


def fast_client(server, **kw):
    return ChatClient(base_url=server.url, model="acme-ft-v4", timeout_s=kw.get("timeout_s", 0.5),
                      max_retries=kw.get("max_retries", 2), backoff_s=0.01, concurrency=4, api_key="k")


def test_answers_come_from_the_endpoint_with_the_key_from_the_environment(deployment, golden, model_server, monkeypatch):
    monkeypatch.setenv("DRIFTDESK_LLM_KEY_GOLDEN_TEST", "sk-secret")
    model_server.answers = {i.prompt: a for i, a in zip(golden, GOOD)}
    configure(deployment, model_server)
    run = services.eval_run_create(deployment=deployment, queue=False)
    run = services.eval_run_execute(run=run)
    assert run.pass_rate == 1.0 and run.answer_source == "endpoint" and run.endpoint_model == "acme-ft-v4"
    assert set(model_server.auth) == {"Bearer sk-secret"} and set(model_server.models) == {"acme-ft-v4"}


def test_a_5xx_is_retried_with_backoff_until_it_answers(model_server):
    result = fast_client(model_server).complete([{"role": "user", "content": "flaky question"}])
    assert result.ok and result.attempts == 3 and model_server.hits["flaky question"] == 3


def test_a_persistent_5xx_gives_up_after_the_retries(model_server):
    result = fast_client(model_server, max_retries=1).complete([{"role": "user", "content": "broken"}])
    assert not result.ok and "HTTP 500" in result.error and model_server.hits["broken"] == 2


def test_a_timeout_is_an_error_after_the_retries(model_server):
    result = fast_client(model_server, timeout_s=0.2, max_retries=1).complete([{"role": "user", "content": "slow"}])
    assert not result.ok and "within 0.2 s" in result.error and result.attempts == 2


def test_endpoint_failures_mark_items_errored_never_passed(deployment, personas, model_server):
    from .conftest import make_item

    items = []
    for prompt in ("garbage please", "slow please", "What is the monthly price of the Pro plan?"):
        item = make_item(personas.bob, prompt=prompt, reference="The Pro plan costs $49 per month.")
        services.golden_item_submit(item=item, user=personas.bob, reason="ready")
        items.append(item)
    services.golden_items_approve(items=items, user=personas.carol, reason="ok")
    model_server.answers = {items[2].prompt: "The Pro plan costs $49 per month."}
    configure(deployment, model_server, timeout_s=0.3, max_retries=0)
    run = services.eval_run_execute(run=services.eval_run_create(deployment=deployment, queue=False))
    outcome = {r.item_id: r for r in run.results.all()}
    assert outcome[items[0].pk].outcome == "errored" and "malformed" in outcome[items[0].pk].error
    assert outcome[items[1].pk].outcome == "errored" and "within 0.3 s" in outcome[items[1].pk].error
    assert outcome[items[0].pk].score is None and outcome[items[2].pk].outcome == "passed"
    assert (run.passed_count, run.errored_count, run.pass_rate) == (1, 2, 1.0)


def test_the_judges_model_and_prompt_version_are_stored_with_each_score(deployment, golden, model_server):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    run = services.eval_run_create(deployment=deployment, queue=False, answers={i.pk: "$49 90 days" for i in golden})
    assert run.judge_model == "judge-large" and run.judge_prompt_version == "rubric-v1"
    run = services.eval_run_execute(run=run)
    r = run.results.get(item=golden[2])
    assert r.judge_passed and r.judge_model == "judge-large" and r.judge_prompt_version == "rubric-v1"
    assert r.outcome == "passed" and r.score == 0.9
    assert "judge-large" in model_server.models


def test_a_malformed_judge_reply_marks_the_item_errored(deployment, golden, model_server):
    configure(deployment, model_server, judge_enabled=True, judge_model="judge-large")
    model_server.judge_reply = "I think it passes"
    run = services.eval_run_execute(run=services.eval_run_create(
        deployment=deployment, queue=False, answers={i.pk: GOOD[n] for n, i in enumerate(golden)}))
    assert run.status == "failed" and run.errored_count == 3 and run.passed_count == 0
    assert all("judge" in r.error for r in run.results.all())


def test_a_schedule_creates_a_celery_beat_task_and_clearing_it_removes_it(deployment, model_server):
    from django_celery_beat.models import PeriodicTask

    configure(deployment, model_server, schedule_cron="0 3 * * *")
    task = PeriodicTask.objects.get(task="goldenset.tasks.eval_scheduled_task")
    assert json.loads(task.args) == [deployment.pk] and task.crontab.hour == "3"
    services.eval_config_update(deployment=deployment, schedule_cron="")
    assert not PeriodicTask.objects.filter(task="goldenset.tasks.eval_scheduled_task").exists()


def test_a_schedule_without_an_endpoint_is_refused(deployment):
    with pytest.raises(ValidationError, match="needs an endpoint"):
        services.eval_config_update(deployment=deployment, schedule_cron="0 3 * * *")


def test_the_scheduled_task_evaluates_the_current_model_version(deployment, golden, model_server):
    from goldenset.tasks import eval_scheduled_task

    model_server.answers = {i.prompt: a for i, a in zip(golden, GOOD)}
    configure(deployment, model_server)
    eval_scheduled_task(deployment.pk)
    run = EvalRun.objects.get(deployment=deployment)
    assert run.trigger == "schedule" and run.model_version == deployment.current_model_version and run.pass_rate == 1.0


def test_golden_eval_command_runs_with_an_answers_file(deployment, golden, tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(json.dumps({"golden_item_id": i.pk, "answer": a}) for i, a in zip(golden, GOOD)))
    call_command("golden_eval", deployment.slug, "--model-version", "v7", "--answers", str(path))
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == "v7" and out["pass_rate"] == 1.0 and out["status"] == "succeeded"
