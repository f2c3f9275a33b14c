from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from goldenset import services
from tests import factories


def make_item(author, prompt: str = "What is the monthly price of the Pro plan?",
              reference: str = "The Pro plan costs $49 per month.", category: str = "billing", **kw):
    return services.golden_item_create(author=author, prompt=prompt, reference_answer=reference, category=category,
                                       reason="test", **kw)


def approve(item, *, author, approver):
    services.golden_item_submit(item=item, user=author, reason="ready")
    return services.golden_item_approve(item=item, user=approver, reason="checked")


@pytest.fixture
def deployment(db):
    return factories.deployment()


@pytest.fixture
def golden(personas):
    """Three approved items (bob wrote them, carol approved) in one version."""
    specs = [
        ("What is the monthly price of the Pro plan?", "The Pro plan costs $49 per month.", "billing", {"must_include": ["$49"]}),
        ("How long are access logs kept?", "Access logs are kept for 90 days.", "security", {"must_include": ["90 days"]}),
        ("How do I reset my password?", "Click Forgot password on the sign-in page.", "accounts", None),
    ]
    items = []
    for prompt, ref, cat, acc in specs:
        item = make_item(personas.bob, prompt, ref, cat, acceptance=acc)
        services.golden_item_submit(item=item, user=personas.bob, reason="ready")
        items.append(item)
    services.golden_items_approve(items=items, user=personas.carol, reason="checked")
    for i in items:
        i.refresh_from_db()
    return items


class FakeModelServer:
    """A real local HTTP server speaking chat-completions. Behaviour depends on the last user message:

    contains "slow"    → sleeps 2 s before answering (longer than the client's timeout)
    contains "flaky"   → HTTP 503 the first two times, then a normal answer
    contains "garbage" → 200 with a body that is not JSON
    contains "broken"  → 500 every time
    otherwise          → answers with self.answers.get(prompt, "I don't know"), after self.delay seconds
    Judge requests (system prompt present) answer self.judge_reply.
    """

    def __init__(self):
        self.answers: dict[str, str] = {}
        self.judge_reply = '{"verdict": "pass", "score": 0.9, "rationale": "same facts"}'
        self.hits: dict[str, int] = {}
        self.models: list[str] = []
        self.auth: list[str] = []
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.models.append(body["model"])
                server.auth.append(self.headers.get("Authorization", ""))
                msgs = body["messages"]
                text = msgs[-1]["content"]
                server.hits[text] = server.hits.get(text, 0) + 1
                if msgs[0]["role"] == "system":
                    return self._ok(server.judge_reply)
                if "slow" in text:
                    time.sleep(2)
                    return self._ok("late")
                if "flaky" in text and server.hits[text] <= 2:
                    return self._raw(503, b'{"error": "overloaded"}')
                if "broken" in text:
                    return self._raw(500, b"oops")
                if "garbage" in text:
                    return self._raw(200, b"<html>not json</html>")
                time.sleep(server.delay)
                return self._ok(server.answers.get(text, "I don't know"))

            def _ok(self, content):
                self._raw(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode())

            def _raw(self, status, payload):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def model_server():
    server = FakeModelServer()
    yield server
    server.close()
