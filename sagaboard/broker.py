"""The Celery broker transport for Redis: kombu's, without two ways it kills a worker
when Redis restarts under it.

With kombu 5.7 and Celery 5.7, when a worker loses its Redis connection its consumer
collects the connection, which closes the transport, and only then closes the channels.
Two things then reach Redis through a channel whose transport is gone, fail with
``AttributeError`` (``'NoneType' object has no attribute 'hostname'`` or ``'client'``),
which Celery calls an unrecoverable error, and the worker process exits:

* closing a channel that still holds unacknowledged messages (``acks_late``: every busy
  worker does) puts them back in the queue, when the channel was blocked in BRPOP and
  consumes a fanout queue (the remote-control queue: every worker does), and the loss
  was noticed on another socket first;
* a task that started before the loss and ends after it acknowledges its message
  through the old channel.

With every worker busy when Redis restarts, no worker is left (bench/chaos.py saw it:
the runs in flight stopped moving). Here a channel whose transport is gone lets both
go, with a log line: neither can reach Redis through a closed transport anyway. Nothing
is lost: what Redis kept of those messages comes back after its visibility timeout, a
step whose message went missing is sent again by the reconciler (engine/tasks.py), and
a step delivered twice runs once (its claim is fenced by the attempt number).

``tests/sagaboard/test_broker.py`` reproduces both with kombu's own transport, so an
upgrade that fixes them shows there, and this module can go.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger("sagaboard.broker")


class QoS(kombu_redis.QoS):
    def _transport_gone(self) -> bool:
        transport = self.channel.connection
        return transport is None or getattr(transport, "client", None) is None

    def restore_unacked_once(self, stderr: Any = None) -> Any:
        if not self._transport_gone():
            return super().restore_unacked_once(stderr)
        self._on_collect.cancel()  # the same restore, which kombu would try at exit
        if self._delivered:
            log.warning(
                "broker connection already closed: %d unacknowledged message(s) left to "
                "Redis' visibility timeout and the reconciler",
                len(self._delivered),
            )
            self._delivered.clear()
        return None

    def ack(self, delivery_tag: Any) -> None:
        if not self._transport_gone():
            super().ack(delivery_tag)
            return
        self._delivered.pop(delivery_tag, None)  # type: ignore[attr-defined]
        log.info("message %s came through a broker connection since lost; not acked", delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if not self._transport_gone():
            super().reject(delivery_tag, requeue=requeue)
            return
        self._delivered.pop(delivery_tag, None)  # type: ignore[attr-defined]
        log.info(
            "message %s came through a broker connection since lost; not rejected", delivery_tag
        )


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
