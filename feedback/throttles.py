"""The per-user flag rate limit, shared by the API and the sample page (counters live in Redis)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)

# When Redis is down the limit is kept per process in memory: flagging keeps working (a 500 would lose
# the flag) and the limit still holds, only looser (one counter per web process instead of one shared).
_FALLBACK_CACHE = LocMemCache("driftdesk-flag-throttle", {"MAX_ENTRIES": 10_000})

DEFAULT_FLAG_RATE = "60/hour"


def flag_rate() -> str:
    return getattr(settings, "DRIFTDESK_FLAG_RATE", DEFAULT_FLAG_RATE)


class FlagRateThrottle(UserRateThrottle):
    scope = "feedback_flag"

    def get_rate(self) -> str:
        # Read per request, not at import, so the setting (and override_settings in tests) applies.
        return flag_rate()

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            logger.warning("flag rate limit: Redis unavailable (%s); counting in process memory", type(exc).__name__)
            self.cache = _FALLBACK_CACHE
            return super().allow_request(request, view)


def limit_message(wait: float | None) -> str:
    count, _, period = flag_rate().partition("/")
    period = {"s": "second", "m": "minute", "h": "hour", "d": "day"}.get(period[:1], period)
    retry = f" Try again in {int(wait) + 1} seconds." if wait else ""
    return f"Flag rate limit reached: at most {count} flags per {period} per user.{retry}"
