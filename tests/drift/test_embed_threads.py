"""DRIFTDESK_EMBED_THREADS gives an embedding worker its share of the host's cores (several embedders per host)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drift_app.integrations import encoders

REPO = Path(__file__).resolve().parents[2]
PROBE = ("import torch; torch.set_num_threads(2); from drift_app import embeddings; embeddings.get_model(); "
         "print(torch.get_num_threads())")


def _threads_after_loading(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDESK_EMBED_THREADS"}
    env.update({"DRIFTDESK_ENCODER": "sentence-transformers", "PYTHONPATH": str(REPO)})
    if value is not None:
        env["DRIFTDESK_EMBED_THREADS"] = value
    # A fresh process: torch's thread count is process-wide.
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_the_encoder_uses_the_threads_it_is_given_and_otherwise_leaves_torch_alone():
    assert _threads_after_loading("1") == "1"
    assert _threads_after_loading(None) == "2"


@pytest.mark.parametrize("value, problem", [("two", "whole number"), ("-1", "0 (all cores) or more")])
def test_a_malformed_thread_count_is_refused_naming_the_variable(monkeypatch, value, problem):
    monkeypatch.setenv("DRIFTDESK_EMBED_THREADS", value)
    with pytest.raises(ValueError, match=rf"DRIFTDESK_EMBED_THREADS must be .*{re.escape(problem)}"):
        encoders.embed_threads()
