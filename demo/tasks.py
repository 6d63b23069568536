"""Plain Celery tasks, the baseline the engine's benchmark compares itself with."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def noop(*_args: object) -> None:
    """One link of a plain chain: does nothing."""


@shared_task(ignore_result=True)
def chain_done(key: str) -> None:
    """The last link of a benchmark chain: records when the chain finished."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.rpush(key, repr(time.time()))


@shared_task(ignore_result=True)
def traffic_tick() -> dict[str, int]:
    """The demo traffic generator's beat (demo/traffic.py); does nothing while switched off."""
    from demo.traffic import traffic_tick as tick

    return tick()
