"""POST a JSON body to a webhook with retries and exponential backoff (stdlib urllib, no Django).

Retried: connection errors, timeouts, HTTP 5xx and 429. Not retried: other 4xx (the request itself
is wrong; sending it again cannot help). Every attempt is reported so the caller can log it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from drift_app import outbound


@dataclass(frozen=True)
class Attempt:
    attempt: int
    status_code: int | None
    ok: bool
    error: str


def _retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status == 429


def post_json(
    url: str, body: dict, *, attempts: int = 3, timeout: float = 5.0, backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Attempt]:
    """Up to `attempts` POSTs, waiting backoff, 2*backoff, ... between them; stops at the first 2xx."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if not url.startswith(("http://", "https://")):
        return [Attempt(1, None, False, f"not an http(s) URL: {url!r}")]
    # Host allowlist (drift_app/outbound.py): a refused URL is reported, never called.
    problem = outbound.url_problem(url)
    if problem:
        return [Attempt(1, None, False, f"refused: webhook URL {problem}")]
    data = json.dumps(body).encode()
    out: list[Attempt] = []
    for n in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "Driftdesk-alerts/1"},
        )
        status: int | None = None
        try:
            with outbound.urlopen(request, timeout=timeout) as response:  # never follows redirects
                status = response.status
                response.read(65536)
            out.append(Attempt(n, status, 200 <= status < 300, ""))
        except urllib.error.HTTPError as exc:
            status = exc.code
            out.append(Attempt(n, status, False, f"HTTP {exc.code} {exc.reason}"))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            out.append(Attempt(n, None, False, f"{type(exc).__name__}: {reason}"))
        if out[-1].ok or not _retryable(status) or n == attempts:
            break
        sleep(backoff * 2 ** (n - 1))
    return out
