"""Metrics out: drift runs, evaluation runs and verdicts logged to MLflow (a local file store) and Weights & Biases
(offline mode) from the Celery export task; off by default; a failing sink never touches the run."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from drift_app import metric_sinks
from drift_app.models import DriftRun
from drift_app.outbound import OutboundRefused
from drift_app.tasks import metrics_export_task
from tests.verdicts.helpers import T0, World, window
from verdicts import services as verdict_services

pytestmark = pytest.mark.django_db


def wandb_offline_summaries(root) -> dict[str, dict]:
    """{driftdesk_key: {metric: value}} read back from W&B offline run files (`*.wandb`, the LevelDB-log
    framing of wandb's protobuf Records: 32 KiB blocks, 7-byte chunk headers, after a 7-byte file header)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    out = {}
    for path in root.glob("wandb/offline-run-*/*.wandb"):
        raw, pos, chunk, summary = path.read_bytes(), 7, b"", {}
        while pos + 7 <= len(raw):
            left = 32768 - pos % 32768
            if left < 7:
                pos += left
                continue
            _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
            if kind == 0 and length == 0:
                break
            chunk += raw[pos + 7:pos + 7 + length]
            pos += 7 + length
            if kind in (1, 4):  # a full record, or the last chunk of one
                record = pb.Record()
                record.ParseFromString(chunk)
                chunk = b""
                kind_of = record.WhichOneof("record_type")
                if kind_of in ("history", "summary"):
                    items = record.history.item if kind_of == "history" else record.summary.update
                    summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items})
        out[summary.get("driftdesk_key")] = summary
    return out


@pytest.fixture
def world(personas):
    world = World(personas.bob, items=20)
    world.golden(pass_rate=0.9, at=T0)
    world.drift(0, prompts=True)
    return world


@pytest.fixture
def sinks_on(settings, tmp_path):
    settings.DRIFTDESK_MLFLOW_TRACKING_URI = (tmp_path / "mlruns").as_uri()
    settings.DRIFTDESK_MLFLOW_EXPERIMENT = "driftdesk-tests"
    settings.DRIFTDESK_WANDB_MODE = "offline"
    settings.DRIFTDESK_WANDB_PROJECT = "driftdesk-tests"
    settings.DRIFTDESK_WANDB_DIR = str(tmp_path)
    return tmp_path


def test_no_sink_is_enabled_by_default_so_nothing_is_queued(world, django_capture_on_commit_callbacks):
    assert metric_sinks.enabled_sinks() == []
    with django_capture_on_commit_callbacks() as callbacks:
        verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0],
                                         window_end=window(0)[1])
    assert not any("metrics_export" in repr(getattr(cb, "__code__", cb)) for cb in callbacks)
    assert metric_sinks.queue_export(kind="drift_run", object_id=1) == 0


def test_a_new_verdict_queues_one_export_per_enabled_sink(world, sinks_on, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        verdict = verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0],
                                                   window_end=window(0)[1])
    queued = len(callbacks)
    assert queued >= 2
    # The same evidence again: the verdict does not change, so nothing is exported twice.
    with django_capture_on_commit_callbacks() as again:
        assert verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0],
                                                window_end=window(0)[1]).id == verdict.id
    assert len(again) == queued - 2


def test_drift_runs_evaluations_and_verdicts_land_in_mlflow_and_wandb(world, sinks_on):
    verdict = verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0],
                                               window_end=window(0)[1])
    drift_run = DriftRun.objects.get(deployment=world.deployment, target="prompts")
    objects = {"drift_run": drift_run.id, "eval_run": world.baseline_run.id, "verdict": verdict.id}
    for kind, object_id in objects.items():
        for sink in ("mlflow", "wandb"):
            assert metrics_export_task.apply(args=[sink, kind, object_id]).get() == f"{kind}-{object_id}"
    # A retried export logs nothing twice.
    metrics_export_task.apply(args=["mlflow", "drift_run", drift_run.id]).get()

    client = MlflowClient(tracking_uri=(sinks_on / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("driftdesk-tests")
    runs = {r.data.tags["driftdesk.kind"]: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["drift_run", "eval_run", "verdict"] and len(client.search_runs([experiment.experiment_id])) == 3
    assert runs["drift_run"].data.metrics["js"] == pytest.approx(0.3)
    assert runs["drift_run"].data.metrics["drifted"] == 1.0
    assert runs["eval_run"].data.metrics["pass_rate"] == pytest.approx(0.9)
    assert runs["verdict"].data.params["verdict_class"] == verdict.verdict_class
    assert all(r.data.tags["driftdesk.deployment"] == world.deployment.slug for r in runs.values())

    by_key = wandb_offline_summaries(sinks_on)
    assert set(by_key) == {f"{k}-{i}" for k, i in objects.items()}
    assert by_key[f"eval_run-{world.baseline_run.id}"]["pass_rate"] == pytest.approx(0.9)


def test_an_unreachable_tracking_server_fails_the_export_never_the_run(world, settings):
    settings.DRIFTDESK_MLFLOW_TRACKING_URI = "http://tracking.example.com:5000"  # not in the outbound allowlist
    verdict = verdict_services.verdict_compute(deployment=world.deployment, window_start=window(0)[0],
                                               window_end=window(0)[1])
    assert verdict.pk is not None
    with pytest.raises(OutboundRefused):
        metric_sinks.export(sink="mlflow", kind="verdict", object_id=verdict.id)
