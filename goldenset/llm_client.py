"""A small OpenAI-compatible chat-completions client on the standard library.

urllib.request for HTTP and a thread pool for the concurrency limit: no extra dependency.
Retries (with exponential backoff) on timeouts, connection errors, HTTP 429 and 5xx; never on
other 4xx or on a malformed body (a retry would not repair it). No Django import here.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from drift_app import outbound


class LLMError(Exception):
    """The answer could not be obtained; the item is marked errored."""


class LLMTimeout(LLMError):
    pass


class LLMHTTPError(LLMError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class LLMMalformedResponse(LLMError):
    pass


@dataclass(frozen=True)
class ChatResult:
    content: str | None
    error: str | None = None
    attempts: int = 1
    latency_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChatClient:
    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 30.0
    max_retries: int = 2
    backoff_s: float = 0.5
    concurrency: int = 4

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _post_once(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            # outbound.urlopen: an allowed host only, and never a redirect (it would carry the key).
            with outbound.urlopen(request, timeout=self.timeout_s) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raise LLMHTTPError(exc.code, f"HTTP {exc.code} from {self.url}") from None
        except (TimeoutError, socket.timeout):
            raise LLMTimeout(f"no answer from {self.url} within {self.timeout_s} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise LLMTimeout(f"no answer from {self.url} within {self.timeout_s} s") from None
            raise LLMError(f"cannot reach {self.url}: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:
            raise LLMError(f"connection to {self.url} failed: {exc}") from None
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            # Status and size only: the reply's bytes would end up in results other roles read.
            raise LLMMalformedResponse(f"malformed chat-completions body from {self.url} "
                                       f"({outbound.describe_reply(raw, status=status)})") from None
        if not isinstance(content, str):
            raise LLMMalformedResponse(f"message content from {self.url} is not a string")
        return content

    def complete(self, messages: list[dict]) -> ChatResult:
        """One chat completion with retries; never raises, the error is in the result."""
        started = time.monotonic()
        # Outbound check at call time (host allowlist), apart from the HTTP code: no attempt is made.
        problem = outbound.url_problem(self.url)
        if problem:
            return ChatResult(None, f"refused: endpoint {problem}", 0, 0)
        attempt = 0
        while True:
            attempt += 1
            try:
                content = self._post_once(messages)
                return ChatResult(content, None, attempt, int((time.monotonic() - started) * 1000))
            except LLMMalformedResponse as exc:
                return ChatResult(None, str(exc), attempt, int((time.monotonic() - started) * 1000))
            except LLMHTTPError as exc:
                retryable = exc.status == 429 or exc.status >= 500
                if not retryable or attempt > self.max_retries:
                    return ChatResult(None, f"{exc} after {attempt} attempt(s)", attempt,
                                      int((time.monotonic() - started) * 1000))
            except LLMError as exc:
                if attempt > self.max_retries:
                    return ChatResult(None, f"{exc} after {attempt} attempt(s)", attempt,
                                      int((time.monotonic() - started) * 1000))
            time.sleep(self.backoff_s * (2 ** (attempt - 1)))

    def complete_many(self, conversations: list[list[dict]]) -> list[ChatResult]:
        """Complete many conversations, at most `concurrency` in flight; results in input order."""
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(self.complete, conversations))
