"""Rate limits that survive Redis going down: the counters move to process memory instead of a 500.

Losing a request (a flag, a batch of spans) would be worse than a looser limit, so while Redis is unavailable
each process counts on its own (the limit still holds, per process instead of shared).
"""

from __future__ import annotations

import logging

from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class RedisFallbackThrottleMixin:
    """Mix into a DRF throttle; the rate is read per request (settings and override_settings apply)."""

    limit_name = "rate limit"
    fallback_cache: LocMemCache

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            logger.warning("%s: Redis unavailable (%s); counting in process memory", self.limit_name,
                           type(exc).__name__)
            self.cache = self.fallback_cache
            return super().allow_request(request, view)
