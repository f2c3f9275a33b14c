"""A single beat: the beat holding the Redis lock sends schedules; any other stands by."""

from __future__ import annotations

import time

import pytest

from drift_app.beat import BeatLock, LockedDatabaseScheduler


@pytest.fixture
def lock_key(redis_server):
    import redis

    key = f"driftdesk:test-beat-lock:{time.monotonic_ns()}"
    yield key
    redis.Redis.from_url(redis_server).delete(key)


def test_a_second_beat_finds_the_lock_taken_and_the_holder_keeps_it(redis_server, lock_key):
    first = BeatLock(url=redis_server, seconds=30, key=lock_key)
    second = BeatLock(url=redis_server, seconds=30, key=lock_key)
    assert first.acquire_or_renew() is True
    assert second.acquire_or_renew() is False
    assert first.acquire_or_renew() is True  # renewal by its holder
    assert second.acquire_or_renew() is False


def test_a_released_lock_passes_to_the_standby_beat_but_a_standby_cannot_release_it(redis_server, lock_key):
    first = BeatLock(url=redis_server, seconds=30, key=lock_key)
    second = BeatLock(url=redis_server, seconds=30, key=lock_key)
    first.acquire_or_renew()
    second.release()  # not its lock: nothing happens
    assert second.acquire_or_renew() is False
    first.release()
    assert second.acquire_or_renew() is True


def test_a_dead_beats_lock_expires_and_another_beat_takes_over(redis_server, lock_key):
    dead = BeatLock(url=redis_server, seconds=1, key=lock_key)
    standby = BeatLock(url=redis_server, seconds=1, key=lock_key)
    assert dead.acquire_or_renew() is True
    assert standby.acquire_or_renew() is False
    time.sleep(1.3)  # the dead beat never renews
    assert standby.acquire_or_renew() is True


@pytest.mark.django_db
def test_a_standby_scheduler_sends_nothing_while_another_beat_holds_the_lock(redis_server, monkeypatch):
    from django_celery_beat.schedulers import DatabaseScheduler

    from drift_app.beat import LOCK_KEY
    from drift_app.celery import app

    sent = []
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *a, **k: sent.append(self) or 1.0)
    holder = LockedDatabaseScheduler(app=app, lazy=True)
    standby = LockedDatabaseScheduler(app=app, lazy=True)
    try:
        holder.tick()
        wait = standby.tick()
        assert sent == [holder]
        assert wait <= 60 / 3
        holder.close()  # releases the lock: the standby takes over at its next tick
        standby.tick()
        assert sent == [holder, standby]
    finally:
        import redis

        redis.Redis.from_url(redis_server).delete(LOCK_KEY)
