"""Standalone mode (``manage.py sagaboard serve``, what ``make run`` starts): all in one process.

- uvicorn serves HTTP and WebSockets on its event loop;
- a Celery worker (a pool of threads) and Celery beat run in threads of the same process,
  over the in-process ``memory://`` broker, whose queues every thread of a process shares;
- the in-process channel layer belongs to the server's loop: the worker threads hand
  their sends to it (``engine.streams.attach_loop``), so a board sees an event a few
  milliseconds after its commit (left to the loop's next wake-up, it took 70 ms or more).

Start-up hands back what the previous process held when it stopped. With the in-process
broker no other process can be running steps of this installation, so every claim made
before this start belongs to a process that is gone: the claim is released and the same
attempt sent again (the participant sees its idempotency key again and applies nothing
twice), and so are the messages that the in-process broker lost. A reconciler pass then
fires what fell due meanwhile. A Ctrl-C therefore delays runs by a restart, no more.

Stopping (SIGINT or SIGTERM): uvicorn stops accepting, closes the WebSockets and finishes
the requests in flight (at most ``GRACE_S``); its lifespan shutdown then stops beat and the
worker, which lets the attempts in flight finish for at most ``WORKER_STOP_S``. What is cut
short is taken back at the next start.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from celery import Celery
from celery.beat import Scheduler, Service
from celery.worker import WorkController
from celery.worker import state as worker_state
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger("sagaboard.standalone")

#: How long uvicorn waits for requests in flight when stopping.
GRACE_S = 2.0
#: How long the worker's attempts in flight may take to finish when stopping.
WORKER_STOP_S = 3.0
#: Worker threads. SQLite takes one writer at a time; more threads mostly overlap the
#: participants' latency.
CONCURRENCY = 4

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def in_process_broker() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith("memory://")


class _Worker(WorkController):
    """A Celery worker that can run in a thread: no signal handlers, no process title."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class Engine:
    """The in-process Celery worker and beat."""

    def __init__(self, app: Celery, *, concurrency: int = CONCURRENCY) -> None:
        self.app = app
        self.concurrency = concurrency
        self.worker: _Worker | None = None
        self.worker_thread: threading.Thread | None = None
        self.beat: Service | None = None
        self.beat_thread: threading.Thread | None = None

    def start(self) -> None:
        """Take back what a stopped process held; start the worker, then beat."""
        from engine.reconciler import reconcile_pass

        # With the in-process broker no other process can be running steps of this
        # installation: what was claimed, or sent and not yet claimed, before this start
        # belongs to a process that is gone, and is sent again.
        held_before = timezone.now() if in_process_broker() else None
        counts = reconcile_pass(held_before=held_before)
        if counts["resent"]:
            log.info("took back %d attempts", counts["resent"])
        close_old_connections()

        self.app.finalize()
        self.app.set_current()
        self.app.set_default()
        worker_state.should_stop = None
        worker_state.should_terminate = None
        self.worker = _Worker(
            app=self.app,
            hostname=f"standalone-{int(time.time())}@%h",
            pool="threads",
            concurrency=self.concurrency,
            loglevel=logging.getLogger().getEffectiveLevel(),
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            # The worker's ready message and the like: only when things go wrong.
            quiet=True,
        )
        self.worker_thread = threading.Thread(
            target=self.worker.start, name="celery-worker", daemon=True
        )
        self.worker_thread.start()
        if not self.worker.ready.wait(30):
            raise RuntimeError("the in-process Celery worker did not start within 30 s")

        # The base Scheduler keeps its schedule in memory: nothing to write to disk.
        self.beat = Service(self.app, max_interval=1.0, scheduler_cls=Scheduler)
        self.beat_thread = threading.Thread(target=self.beat.start, name="celery-beat", daemon=True)
        self.beat_thread.start()

    def stop(self, timeout: float = WORKER_STOP_S) -> None:
        """Stop beat, then the worker; give the attempts in flight ``timeout`` to finish."""
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None and self.worker_thread is not None:
            stopper = threading.Thread(target=self.worker.stop, name="celery-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
            if stopper.is_alive():
                log.warning(
                    "attempts still in flight after %.0f s; the next start takes them back",
                    timeout,
                )
        if self.beat_thread is not None:
            self.beat_thread.join(1.5)


class StandaloneApp:
    """The ASGI application, plus a lifespan that runs the engine beside the server."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], engine: Engine):
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                from engine import streams

                try:
                    # The in-process layer's queues belong to this loop: publishes from
                    # the worker threads are handed to it.
                    streams.attach_loop()
                    await asyncio.get_running_loop().run_in_executor(None, self.engine.start)
                except Exception as exc:
                    log.exception("could not start the in-process worker")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                from engine import streams

                await asyncio.get_running_loop().run_in_executor(None, self.engine.stop)
                streams.detach_loop()
                await send({"type": "lifespan.shutdown.complete"})
                return


#: Loggers that speak once per run, task, beat tick or refused request, and the level
#: each is shown from on the console of a one-process start: the board and each run's
#: event log say all of it already, and the start-up banner would scroll out of view.
#: Problems still show. With LOG_LEVEL set (LOG_LEVEL=INFO), everything is shown as
#: it is in production.
CHATTY_LOGGERS = {
    "sagaboard.engine": logging.WARNING,  # a line per run started, reconciler passes
    "celery.app.trace": logging.WARNING,
    "celery.worker.strategy": logging.WARNING,
    "celery.worker.consumer.connection": logging.WARNING,
    "celery.beat": logging.WARNING,
    "django.request": logging.ERROR,  # 403 and 404: the browser shows them
}


def quiet_console() -> None:
    """Quieten the chatty loggers, unless LOG_LEVEL asks for more."""
    if os.environ.get("LOG_LEVEL"):
        return
    for name, level in CHATTY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def serve(
    *,
    host: str,
    port: int,
    app: Celery | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; returns once everything has stopped.

    ``on_ready`` is called once the server answers on its port.
    """
    import uvicorn

    from sagaboard.asgi import application
    from sagaboard.celery import app as celery_app

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets=sockets)
            # Again: the worker's start set Django up anew (Celery's Django fixup), and
            # with it the levels of LOGGING.
            quiet_console()
            if self.started and not self.should_exit and on_ready is not None:
                on_ready()

    quiet_console()
    engine = Engine(app or celery_app)
    config = uvicorn.Config(
        StandaloneApp(application, engine),
        host=host,
        port=port,
        lifespan="on",
        timeout_graceful_shutdown=int(GRACE_S),
        # Logging stays as Django's settings configured it.
        log_config=None,
        access_log=False,
        ws_ping_interval=20.0,
    )
    server = Server(config)
    # uvicorn re-raises the signal that stopped it once it is done: let that end the
    # process quietly, with status 0, rather than with a traceback or status 143.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _exit_quietly)
    try:
        server.run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        sys.exit(1)
    # Everything has stopped; what is left is the interpreter's own teardown, freeing
    # every module and object one by one: 0.6 to 2.5 s on a loaded 2-core machine, more
    # than the stop itself, for nothing. The exit handlers run and the output is flushed;
    # SQLite keeps what was committed in its write-ahead log, which the next start reads.
    # And when the worker gave up on attempts in flight, its pool threads would hold a
    # normal exit until those end (the interpreter joins them); they are taken back at
    # the next start.
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
