"""Every outbound HTTP call (evaluation endpoints, LLM judges, webhooks) passes these checks.

- Hosts: only those named in `DRIFTDESK_OUTBOUND_ALLOWED_HOSTS` (empty by default, so a fresh install
  calls nothing). An entry "llm.internal" allows that host; ".example.com" allows its subdomains too.
- API keys: only from environment variables whose names start with `DRIFTDESK_API_KEY_ENV_PREFIX`
  (default `DRIFTDESK_LLM_KEY_`): a configuration edited through the API cannot name SECRET_KEY.
- Redirects are never followed: a 3xx would carry the Authorization header to wherever it points.
- A reply that is not the expected JSON is described by status and length, never quoted: its bytes
  would otherwise end up in results that other roles read.

Settings are read when a check runs (not at import), so this module loads without Django configured.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_KEY_PREFIX = "DRIFTDESK_LLM_KEY_"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class OutboundRefused(Exception):
    """The call is not allowed. `field` names the setting or form field at fault."""

    def __init__(self, message: str, *, field: str = "url"):
        super().__init__(message)
        self.field = field


def allowed_hosts() -> list[str]:
    from django.conf import settings

    return list(getattr(settings, "DRIFTDESK_OUTBOUND_ALLOWED_HOSTS", []))


def key_env_prefix() -> str:
    from django.conf import settings

    return getattr(settings, "DRIFTDESK_API_KEY_ENV_PREFIX", DEFAULT_KEY_PREFIX)


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def url_problem(url: str, *, allowed: list[str] | None = None) -> str | None:
    """Why `url` may not be called, or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not host:
        return "has no host"
    if parts.username or parts.password:
        # user:password@host would send credentials the allowlist never saw.
        return "must not carry credentials (user:password@)"
    allowed = allowed_hosts() if allowed is None else allowed
    if not host_allowed(host, allowed):
        if not allowed:
            return (f"host {host!r} is not allowed: no outbound host is allowed yet "
                    "(an administrator sets DRIFTDESK_OUTBOUND_ALLOWED_HOSTS)")
        return f"host {host!r} is not in DRIFTDESK_OUTBOUND_ALLOWED_HOSTS"
    return None


def check_url(url: str, *, field: str = "url") -> str:
    problem = url_problem(url)
    if problem:
        raise OutboundRefused(f"{field} {problem}", field=field)
    return url


def key_env_problem(name: str) -> str | None:
    """Why the environment variable `name` may not hold an API key, or None when it may."""
    prefix = key_env_prefix()
    if not _ENV_NAME.fullmatch(name or ""):
        return "must be an environment variable name (upper-case letters, digits, underscores)"
    if not name.startswith(prefix) or name == prefix:
        return f"must start with {prefix} (API keys are read only from those variables)"
    return None


def api_key(name: str) -> str:
    """The API key in environment variable `name` ("" for no name); refuses names outside the prefix."""
    if not name:
        return ""
    problem = key_env_problem(name)
    if problem:
        raise OutboundRefused(f"api_key_env {problem}", field="api_key_env")
    return os.environ.get(name, "")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, "redirect refused (redirects are never followed)",
                                     headers, fp)


_opener = urllib.request.build_opener(_RefuseRedirects)


def urlopen(request: urllib.request.Request, *, timeout: float):
    """urllib's urlopen for an allowed URL, never following a redirect (a 3xx raises HTTPError)."""
    check_url(request.full_url)
    return _opener.open(request, timeout=timeout)


def describe_reply(raw: bytes, *, status: int | None = None) -> str:
    """A reply that could not be used, by status and size only: its content is never echoed."""
    where = f"HTTP {status}, " if status is not None else ""
    return f"{where}{len(raw)} bytes"
