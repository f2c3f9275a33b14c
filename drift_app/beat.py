"""Exactly one beat, however many are started: a Redis lock held by the beat that sends schedules.

Compose runs one beat, but a second host started by mistake (or an old `localstack` beside every
worker) would send every periodic task twice. Each beat tick first takes or renews the lock
`driftdesk:beat-lock` (SET NX with an expiry, renewed only by its holder); a beat without it sends
nothing and tries again at the next tick. A beat that dies stops renewing, and its lock expires after
DRIFTDESK_BEAT_LOCK_SECONDS, so another beat takes over.
"""

from __future__ import annotations

import logging
import uuid

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "driftdesk:beat-lock"

# Renew only our own lock (compare-and-set in one step: another beat may hold it by now).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class BeatLock:
    def __init__(self, *, url: str, seconds: int, key: str = LOCK_KEY):
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.key = key
        self.ms = seconds * 1000
        self.owner = uuid.uuid4().hex

    def acquire_or_renew(self) -> bool:
        if self.client.set(self.key, self.owner, nx=True, px=self.ms):
            return True
        return bool(self.client.eval(_RENEW, 1, self.key, self.owner, self.ms))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.owner)


class LockedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, sending only while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock(url=settings.CELERY_BROKER_URL, seconds=settings.DRIFTDESK_BEAT_LOCK_SECONDS)
        self._holding = False
        super().__init__(*args, **kwargs)
        # Tick well within the lock's lifetime so that the holder always renews it in time.
        self.max_interval = min(self.max_interval, settings.DRIFTDESK_BEAT_LOCK_SECONDS / 3)

    def tick(self, *args, **kwargs) -> float:
        try:
            holding = self.lock.acquire_or_renew()
        except redis.RedisError:
            logger.warning("beat lock unreachable; sending nothing until Redis answers", exc_info=True)
            holding = False
        if holding != self._holding:
            logger.info("beat lock %s", "taken: this beat sends schedules" if holding else "held elsewhere: standing by")
            self._holding = holding
        if not holding:
            return self.max_interval
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        try:
            if self._holding:
                self.lock.release()
        finally:
            super().close()
