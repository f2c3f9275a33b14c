"""The per-user flag rate limit, shared by the API and the sample page (counters live in Redis)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle

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
        return super().allow_request(request, view)


def limit_message(wait: float | None) -> str:
    count, _, period = flag_rate().partition("/")
    period = {"s": "second", "m": "minute", "h": "hour", "d": "day"}.get(period[:1], period)
    retry = f" Try again in {int(wait) + 1} seconds." if wait else ""
    return f"Flag rate limit reached: at most {count} flags per {period} per user.{retry}"
