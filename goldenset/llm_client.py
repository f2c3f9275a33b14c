"""An OpenAI-compatible chat-completions client on the `openai` package.

The SDK does the HTTP (httpx, connection pooling, timeouts, auth header); this module keeps the
interface the evaluation service and the judge use: ``ChatClient.complete_many(conversations)`` returns
one :class:`ChatResult` per conversation, in order, with ``ok``, ``content``, ``error``, ``attempts``
and ``latency_ms``, and never raises. Retries are ours, not the SDK's (``max_retries=0`` there), so
that the attempts are counted per item: with exponential backoff on timeouts, connection errors,
HTTP 429 and 5xx; never on other 4xx or on a malformed body (a retry would not repair it).
No Django import here. Issue 14 wraps ``ChatClient`` with an outbound-host allowlist: keep
``base_url`` the only place the host comes from.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import openai

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
    _sdk: list = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _client(self) -> openai.OpenAI:
        # One SDK client (one connection pool) per ChatClient, built on first use.
        with self._lock:
            if not self._sdk:
                # The SDK insists on a key; endpoints without auth accept any placeholder.
                # Never follow a redirect: it would carry the API key to wherever it points (drift_app/outbound.py).
                http_client = openai.DefaultHttpxClient(follow_redirects=False, timeout=self.timeout_s)
                self._sdk.append(openai.OpenAI(base_url=self.base_url.rstrip("/"), api_key=self.api_key or "unused",
                                               timeout=self.timeout_s, max_retries=0, http_client=http_client))
            return self._sdk[0]

    def _post_once(self, messages: list[dict]) -> str:
        try:
            raw = self._client().chat.completions.with_raw_response.create(
                model=self.model, messages=messages, temperature=0)
            body = raw.http_response.content
        except openai.APITimeoutError:
            raise LLMTimeout(f"no answer from {self.url} within {self.timeout_s} s") from None
        except openai.APIStatusError as exc:
            raise LLMHTTPError(exc.status_code, f"HTTP {exc.status_code} from {self.url}") from None
        except openai.APIConnectionError as exc:
            raise LLMError(f"cannot reach {self.url}: {exc.__cause__ or exc}") from None
        # Parsed here rather than by the SDK: a body that is not chat-completions JSON is an error we name.
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            # Status and size only: the reply's bytes would end up in results other roles read.
            raise LLMMalformedResponse(f"malformed chat-completions body from {self.url} "
                                       f"({outbound.describe_reply(body, status=raw.http_response.status_code)})") from None
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
