"""The per-user flag rate limit, shared by the API and the sample page (counters live in Redis)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import UserRateThrottle

from drift_app.throttling import RedisFallbackThrottleMixin

DEFAULT_FLAG_RATE = "60/hour"


def flag_rate() -> str:
    return getattr(settings, "DRIFTDESK_FLAG_RATE", DEFAULT_FLAG_RATE)


class FlagRateThrottle(RedisFallbackThrottleMixin, UserRateThrottle):
    # Redis down: flagging keeps working (a 500 would lose the flag), counted per process.
    scope = "feedback_flag"
    limit_name = "flag rate limit"
    fallback_cache = LocMemCache("driftdesk-flag-throttle", {"MAX_ENTRIES": 10_000})

    def get_rate(self) -> str:
        # Read per request, not at import, so the setting (and override_settings in tests) applies.
        return flag_rate()


def limit_message(wait: float | None) -> str:
    count, _, period = flag_rate().partition("/")
    period = {"s": "second", "m": "minute", "h": "hour", "d": "day"}.get(period[:1], period)
    retry = f" Try again in {int(wait) + 1} seconds." if wait else ""
    return f"Flag rate limit reached: at most {count} flags per {period} per user.{retry}"
