"""Encoders as a setting: the ONNX Runtime backend of the shipped model agrees with PyTorch, the OpenAI-compatible
encoder goes through the `openai` package and the outbound allowlist, each encoder names its own vectors, and
vectors of two encoders are never mixed: a switch re-embeds."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from drift_app import embeddings, selectors, services
from drift_app.integrations import encoders
from drift_app.models import ProductionSample
from drift_app.outbound import OutboundRefused
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "data_full.json"


@pytest.fixture(scope="session")
def onnx_model():
    # `make setup` builds the file; a checkout without it builds it once here (about a minute on 2 cores).
    if not encoders.onnx_path().exists():
        encoders.export_onnx()
    return encoders.OnnxSentenceModel()


def _real_queries(n: int) -> list[str]:
    if CLINC.exists():
        rows = json.loads(CLINC.read_text())["test"]
        return [text for text, _ in rows[::max(1, len(rows) // n)]][:n]
    # Without the shared data: varied lengths, one past the encoder's window (chunked).
    return [f"question {i}: how do I move my {w} to another account?" for i, w in enumerate(["card", "loan"] * (n // 2))]


def test_the_onnx_backend_agrees_with_pytorch_on_real_queries(onnx_model):
    texts = _real_queries(60) + ["a very long support question " * 80]
    torch_vectors = embeddings.get_model().encode(texts, batch_size=64, normalize_embeddings=True,
                                                  convert_to_numpy=True, show_progress_bar=False)
    onnx_vectors = onnx_model.encode(texts, batch_size=64)
    assert onnx_vectors.shape == (len(texts), 384) and onnx_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(torch_vectors * onnx_vectors, axis=1)
    assert cosines.min() > 0.999, cosines.min()


def test_each_encoder_names_its_own_vectors(monkeypatch):
    names = {encoders.model_name(e) for e in encoders.ENCODERS}
    assert len(names) == 3 and embeddings.MODEL_NAME == encoders.ST_MODEL  # the default
    monkeypatch.setenv("DRIFTDESK_OPENAI_EMBED_MODEL", "text-embedding-3-large")
    assert encoders.model_name("openai") == "openai:text-embedding-3-large@384"
    monkeypatch.setenv("DRIFTDESK_ENCODER", "word2vec")
    with pytest.raises(ValueError, match="DRIFTDESK_ENCODER"):
        encoders.encoder_name()


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings: a deterministic vector per text, of the dimensions asked for."""

    calls: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        data = []
        for i, text in enumerate(body["input"]):
            rng = np.random.default_rng(sum(text.encode()))
            data.append({"object": "embedding", "index": i,
                         "embedding": rng.normal(size=body.get("dimensions", 1536)).tolist()})
        raw = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def embeddings_server(monkeypatch):
    _EmbeddingsHandler.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DRIFTDESK_OPENAI_EMBED_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    yield _EmbeddingsHandler.calls
    server.shutdown()
    server.server_close()


def test_the_openai_encoder_batches_through_the_openai_package(embeddings_server):
    model = encoders.OpenAIEmbeddingModel()
    texts = [f"text number {i}" for i in range(5)]
    vectors = model.encode(texts, batch_size=2)
    assert vectors.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(c["input"]) for c in embeddings_server] == [2, 2, 1]
    assert all(c["dimensions"] == 384 and c["model"] == "text-embedding-3-small" for c in embeddings_server)
    again = model.encode(["text number 3"])
    np.testing.assert_allclose(again[0], vectors[3], atol=1e-6)


def test_the_openai_encoder_refuses_a_host_outside_the_allowlist(monkeypatch):
    monkeypatch.setenv("DRIFTDESK_OPENAI_EMBED_BASE_URL", "https://embeddings.example.com/v1")
    with pytest.raises(OutboundRefused):
        encoders.OpenAIEmbeddingModel()


@pytest.mark.django_db(transaction=True)  # vectors are written from a second thread and connection
def test_switching_encoder_hides_old_vectors_and_re_embeds_them(onnx_model, monkeypatch):
    deployment = factories.deployment()
    samples = [factories.sample(deployment, prompt=q, response="An answer.") for q in _real_queries(6)]
    ids = [s.id for s in samples]
    assert services.samples_embed(sample_ids=ids) == 6
    before, _ = selectors.sample_vectors(deployment=deployment, target="prompt")
    assert len(before) == 6

    # The worker restarts with DRIFTDESK_ENCODER=onnx: another model name, another model.
    monkeypatch.setattr(embeddings, "MODEL_NAME", encoders.model_name("onnx"))
    monkeypatch.setattr(embeddings, "get_model", lambda: onnx_model)
    monkeypatch.setattr(embeddings, "_cache", type(embeddings._cache)())
    hidden, _ = selectors.sample_vectors(deployment=deployment, target="prompt")
    assert len(hidden) == 0  # PyTorch vectors are never compared with ONNX ones
    # The backfill claims samples whose vectors come from another model; the embedding task re-embeds them.
    ProductionSample.objects.filter(id__in=ids).update(embed_queued_at=None)
    queued: list[list[int]] = []
    monkeypatch.setattr("drift_app.tasks.embed_samples_task.delay", lambda chunk: queued.append(chunk))
    claimed = services.embeddings_backfill()  # its queueing runs when its transaction commits
    assert claimed == 6 and sorted(sum(queued, [])) == sorted(ids)
    assert services.samples_embed(sample_ids=ids) == 6
    after_ids, after = selectors.sample_vectors(deployment=deployment, target="prompt")
    assert len(after_ids) == 6
    assert set(ProductionSample.objects.filter(id__in=ids).values_list("embedding_model", flat=True)) == {
        encoders.model_name("onnx")}
