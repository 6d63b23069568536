"""The chaos run: sagas on the production topology while workers, Redis and PostgreSQL fail.

    python bench/chaos.py [--sagas 1000] [--kills 10] [--seed N] [--plan kill,kill+redis,...]

Brings up the production topology on the real services: a PostgreSQL database of its
own on the server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432), a
redis-server of its own on a spare port (broker and channel layer, so restarting it
disturbs nothing else), the ASGI server, three ``celery -A sagaboard worker`` processes
and one beat, all as the Procfile runs them. It starts ``--sagas`` runs of the demo
workflows, a fifth of them with an injected failure (the mix is printed), and while they
run it kills a random worker with SIGKILL ``--kills`` times (starting it again), restarts
Redis once and drops every PostgreSQL connection of the database once. A WebSocket
client on the board and clients on 20 runs disconnect and resume at random.

The order saga reserves each order line with a map, gates only big orders with a
condition and pays through a child run of the payment saga, so all three run through
the faults too.

When every run has settled it checks, from the database, the API and the participants'
ledgers, that every run ended as its injected faults say it must (or, where a kill or a
dropped connection made a step give up, consistently with that), that compensations ran
in reverse graph order for exactly the steps that had succeeded (a map's iterations
highest index first), that no participant
effect was applied twice, and that every WebSocket client saw every event of its runs
once, in order. Prints the counts; exits 1 on any violation, 2 if it could not finish.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import psycopg2  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bench.topology import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    Api,
    Database,
    Proc,
    Topology,
    demo_passwords,
    manage,
    poll,
    procfile,
    production_env,
    redis_command,
    session_cookie,
    spare_port,
    wait_redis,
)

ORDER, TRIP = "order-fulfilment", "trip-booking"
WORKERS = 3
WATCHED_RUNS = 20
FAILING_SHARE = 0.2
FLAKY_SHARE = 0.1
#: Work time of every demo participant call, in ms: small, so the run is quick.
LATENCY_MS = (2, 15)
SETTLED = ("completed", "compensated", "cancelled")
IN_FLIGHT = ("running", "retrying", "waiting", "compensating")
#: Errors of the injected faults; any other failure came from the chaos (a lost worker,
#: a dropped connection).
INJECTED = ("(injected)", "(permanent failure)", "(retryable failure)", "rejected by")


@dataclass(frozen=True)
class Scenario:
    """One kind of injected failure and the outcome it must lead to."""

    name: str
    workflow: str
    faults: dict[str, dict[str, Any]]
    status: str
    #: The status every step must end in.
    steps: dict[str, str]


def _order(**steps: str) -> dict[str, str]:
    return {"reserve_lines": "succeeded", "manager_ok": "succeeded", "pay": "succeeded",
            "ship": "succeeded", **steps}  # fmt: skip


def _trip(**steps: str) -> dict[str, str]:
    return {"flight": "succeeded", "hotel": "succeeded", "car": "succeeded", "pay": "succeeded",
            "confirm": "succeeded", **steps}  # fmt: skip


PERMANENT = {"fail": "permanent"}
RETRYABLE = {"fail": "retryable"}  # every attempt fails: the step gives up after its retries
ONCE = {"fail_attempts": 1}  # the first attempt fails; a retry succeeds

FAILURES: list[Scenario] = [
    # order-fulfilment: reserve_lines (a map, one iteration per order line) -> manager_ok
    # (an approval, only for orders over 10,000) -> pay (pivot: a child run of "payment",
    # whose one step is charge) -> ship. A fault on reserve_lines reaches each of its
    # iterations; one on charge reaches the child's step.
    Scenario("reserve_lines permanent (before pivot)", ORDER, {"reserve_lines": PERMANENT},
             "compensated", _order(reserve_lines="failed", manager_ok="pending",
                                   pay="pending", ship="pending")),
    Scenario("reserve_lines retryable, retries exhausted (before pivot)", ORDER,
             {"reserve_lines": RETRYABLE}, "compensated",
             _order(reserve_lines="failed", manager_ok="pending", pay="pending",
                    ship="pending")),
    Scenario("manager_ok rejected (before pivot)", ORDER, {"manager_ok": {"decision": "reject"}},
             "compensated", _order(reserve_lines="compensated", manager_ok="failed",
                                   pay="pending", ship="pending")),
    Scenario("charge permanent (in the child run of the pivot)", ORDER, {"charge": PERMANENT},
             "compensated", _order(reserve_lines="compensated", pay="failed", ship="pending")),
    Scenario("ship permanent (after pivot)", ORDER, {"ship": PERMANENT}, "stuck",
             _order(ship="failed")),
    Scenario("ship retryable, retries exhausted (after pivot)", ORDER, {"ship": RETRYABLE},
             "stuck", _order(ship="failed")),
    Scenario("charge permanent, reserve_lines compensations permanent", ORDER,
             {"charge": PERMANENT, "reserve_lines": {"compensation": PERMANENT}}, "stuck",
             _order(reserve_lines="compensation_failed", pay="failed", ship="pending")),
    Scenario("charge permanent, reserve_lines compensations fail once", ORDER,
             {"charge": PERMANENT, "reserve_lines": {"compensation": ONCE}}, "compensated",
             _order(reserve_lines="compensated", pay="failed", ship="pending")),
    # trip-booking: flight, hotel, car (in parallel) -> pay -> confirm (pivot)
    Scenario("car permanent (before pivot, parallel branch)", TRIP, {"car": PERMANENT},
             "compensated", _trip(flight="compensated", hotel="compensated", car="failed",
                                  pay="pending", confirm="pending")),
    Scenario("flight retryable, retries exhausted (before pivot, parallel branch)", TRIP,
             {"flight": RETRYABLE}, "compensated",
             _trip(flight="failed", hotel="compensated", car="compensated", pay="pending",
                   confirm="pending")),
    Scenario("pay permanent (before pivot)", TRIP, {"pay": PERMANENT}, "compensated",
             _trip(flight="compensated", hotel="compensated", car="compensated", pay="failed",
                   confirm="pending")),
    Scenario("confirm permanent (the pivot)", TRIP, {"confirm": PERMANENT}, "compensated",
             _trip(flight="compensated", hotel="compensated", car="compensated",
                   pay="compensated", confirm="failed")),
    Scenario("confirm permanent, pay compensation permanent", TRIP,
             {"confirm": PERMANENT, "pay": {"compensation": PERMANENT}}, "stuck",
             _trip(pay="compensation_failed", confirm="failed")),
    Scenario("confirm permanent, hotel compensation retryable, retries exhausted", TRIP,
             {"confirm": PERMANENT, "hotel": {"compensation": RETRYABLE}}, "stuck",
             _trip(flight="compensated", hotel="compensation_failed", car="compensated",
                   pay="compensated", confirm="failed")),
    Scenario("pay permanent, car compensation fails once", TRIP,
             {"pay": PERMANENT, "car": {"compensation": ONCE}}, "compensated",
             _trip(flight="compensated", hotel="compensated", car="compensated", pay="failed",
                   confirm="pending")),
]  # fmt: skip

FLAKY: list[Scenario] = [
    Scenario(f"{step} fails once, then succeeds", workflow, {step: ONCE}, "completed",
             (_order if workflow == ORDER else _trip)())
    for workflow, steps in ((ORDER, ["reserve_lines", "charge", "ship"]),
                            (TRIP, ["flight", "hotel", "car", "pay", "confirm"]))
    for step in steps
]  # fmt: skip

CLEAN = {
    ORDER: Scenario("no fault", ORDER, {}, "completed", _order()),
    TRIP: Scenario("no fault", TRIP, {}, "completed", _trip()),
}
TASK_STEPS = {ORDER: ["reserve_lines", "charge", "ship"], TRIP: list(_trip())}
#: The share of orders big enough for the manager's gate (it is skipped for the others).
BIG_ORDERS = 0.4
SKUS = ("lamp-3", "desk-1", "chair-7", "shelf-2")


@dataclass
class Planned:
    """One run of the chaos run: what it meets and what became of it."""

    index: int
    scenario: Scenario
    input: dict[str, Any]
    id: str = ""


def plan_runs(count: int, rng: random.Random) -> list[Planned]:
    """``count`` runs: a fifth failing for good somewhere, a tenth failing once."""
    runs = []
    for index in range(count):
        draw = rng.random()
        if draw < FAILING_SHARE:
            scenario = rng.choice(FAILURES)
        elif draw < FAILING_SHARE + FLAKY_SHARE:
            scenario = rng.choice(FLAKY)
        else:
            scenario = CLEAN[rng.choice([ORDER, TRIP])]
        # Every task step quick, and no random failure (the trip's car has a fail_rate of
        # its own): what fails is what the scenario says.
        faults: dict[str, dict[str, Any]] = {
            step: {"latency_ms": rng.randint(*LATENCY_MS), "fail_rate": 0}
            for step in TASK_STEPS[scenario.workflow]
        }
        for step, knobs in scenario.faults.items():
            faults[step] = {**faults.get(step, {}), **knobs}
        order: dict[str, Any] = {"order_id": f"chaos-{index}", "amount": 10, "faults": faults}
        if scenario.workflow == ORDER:
            # A gate that is to reject must run: the order is big. A small order skips it.
            big = "manager_ok" in scenario.faults or rng.random() < BIG_ORDERS
            order["amount"] = 20_000 if big else 10
            order["lines"] = [
                {"sku": rng.choice(SKUS), "quantity": 1} for _ in range(rng.randint(1, 3))
            ]
            if not big and scenario.steps["manager_ok"] == "succeeded":
                steps = {**scenario.steps, "manager_ok": "skipped"}
                scenario = dataclasses.replace(scenario, steps=steps)
        runs.append(Planned(index, scenario, order))
    return runs


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- API client


class Client:
    """The API as a careful script uses it: a request that fails for a passing reason (a
    dropped connection, a restart) is tried again; acts answered 409 are final."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base, self.username, self.password = base, username, password
        self._local = threading.local()

    def _api(self) -> Api:
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = retrying(
                lambda: Api(self.base, self.username, self.password), what="sign in"
            )
        return api

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        def once() -> Any:
            response = self._api().request(method, path, body)
            if response.status_code in ok:
                return response
            if response.status_code >= 500:
                raise Transient(f"{method} {path}: {response.status_code}")
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")

        return retrying(once, what=f"{method} {path}")

    def get(self, path: str) -> Any:
        return self.call("GET", path).json()


class Transient(Exception):
    pass


def retrying(func: Any, *, what: str, attempts: int = 40) -> Any:
    for attempt in range(attempts):
        try:
            return func()
        except (httpx.TransportError, Transient):
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.2 * (attempt + 1), 2.0))
    raise AssertionError(what)


# --------------------------------------------------------------------------- the database


class Db:
    """Reads of the run's database, on a fresh connection each (they get dropped too)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        for attempt in range(20):
            try:
                connection = psycopg2.connect(self.url)
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(sql, params)
                        return list(cursor.fetchall())
                finally:
                    connection.close()
            except psycopg2.OperationalError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        return []

    def unsettled(self, ids: list[str]) -> int:
        [(count,)] = self.rows(
            "SELECT count(*) FROM engine_run r WHERE r.id::text = ANY(%s) AND NOT ("
            " r.status = ANY(%s) OR (r.status = 'stuck' AND NOT EXISTS ("
            "  SELECT 1 FROM engine_steprun s WHERE s.run_id = r.id AND s.status = ANY(%s))))",
            [ids, list(SETTLED), list(IN_FLIGHT)],
        )
        return int(count)


# --------------------------------------------------------------------------- WebSocket clients


class Watcher(threading.Thread):
    """A WebSocket client that disconnects and resumes at random until told to settle."""

    def __init__(self, base: str, cookie: str, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.base, self.cookie, self.rng = base, cookie, rng
        self.settle = threading.Event()  # no more disconnects: read until stopped
        self.stop = threading.Event()
        self.connections = 0
        self.forced_closes: Counter[int] = Counter()
        self.errors: list[str] = []

    def path(self) -> str:
        raise NotImplementedError

    def on_frame(self, frame: dict[str, Any], connection: int) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._connection()
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                if code is not None:
                    self.forced_closes[code] += 1
            except Exception:
                self.errors.append(traceback.format_exc())
            if not self.stop.is_set():
                time.sleep(self.rng.uniform(0.05, 0.5))

    def _connection(self) -> None:
        url = self.base.replace("http://", "ws://") + self.path()
        with connect(
            url,
            origin=self.base,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            proxy=None,
            open_timeout=20,
            max_size=None,
        ) as ws:
            self.connections += 1
            connection = self.connections
            until = time.monotonic() + self.rng.uniform(0.3, 4.0)
            while not self.stop.is_set():
                if not self.settle.is_set() and time.monotonic() > until:
                    return  # drop the connection; the loop resumes
                try:
                    text = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self.on_frame(json.loads(text), connection)


def frame_items(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The events and progress summaries a frame holds, in order."""
    if frame["type"] in ("event", "progress"):
        return [frame]
    if frame["type"] == "batch":
        return list(frame["events"])
    return []


def frame_events(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in frame_items(frame) if item.get("type") != "progress"]


def is_iteration_row(row: tuple[Any, ...]) -> bool:
    """A logged event of one of a map's iterations (``(seq, type, step, status, attempt,
    error, data)``): the streams summarise these rather than send them; acts on one
    iteration are sent as any act is."""
    return not row[1].startswith("act.") and "index" in json.loads(row[6] or "{}")


class RunWatcher(Watcher):
    """/ws/runs/<id>/, resuming with ``?after=`` the last seq it has."""

    def __init__(self, base: str, cookie: str, rng: random.Random, run_id: str) -> None:
        super().__init__(base, cookie, rng)
        self.run_id = run_id
        self.events: list[dict[str, Any]] = []
        #: The last seq seen, of an event or of the progress that summarised iterations.
        self.cursor = 0
        self.progress_behind: list[str] = []

    def path(self) -> str:
        return f"/ws/runs/{self.run_id}/?after={self.cursor}"

    def on_frame(self, frame: dict[str, Any], connection: int) -> None:
        if frame["type"] == "error":
            self.errors.append(f"error frame: {frame}")
        for item in frame_items(frame):
            if item.get("type") == "progress":
                if item["seq"] < self.cursor:
                    self.progress_behind.append(f"progress to {item['seq']} after {self.cursor}")
            else:
                self.events.append(item)
            self.cursor = max(self.cursor, item["seq"])


class BoardWatcher(Watcher):
    """/ws/board/: a snapshot on each connect, then live events."""

    def __init__(self, base: str, cookie: str, rng: random.Random) -> None:
        super().__init__(base, cookie, rng)
        #: ("snapshot", {run: last_seq}, truncated) or ("event", event), in order of arrival
        self.log: list[tuple[Any, ...]] = []

    def path(self) -> str:
        return "/ws/board/"

    def on_frame(self, frame: dict[str, Any], connection: int) -> None:
        now = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        if frame["type"] == "snapshot":
            runs = {r["run"]: r["last_seq"] for r in frame["runs"]}
            self.log.append(("snapshot", runs, frame["truncated"], connection, now))
        elif frame["type"] == "error":
            self.errors.append(f"error frame: {frame}")
        for event in frame_events(frame):
            self.log.append(("event", event, connection, now))


# --------------------------------------------------------------------------- the run


@dataclass
class Tally:
    kills: list[str] = field(default_factory=list)
    worker_restarts: int = 0
    redis_restarts: int = 0
    pg_drops: int = 0
    pg_connections_dropped: int = 0
    approvals: Counter[str] = field(default_factory=Counter)


class ChaosRun:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.topology = Topology(self.logs)
        base_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        self.database = Database(base_url, f"sagaboard_chaos_{os.getpid()}")
        self.db = Db(self.database.url)
        self.redis_port = spare_port()
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tally = Tally()
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.workers: list[Proc] = []
        self.redis: Proc | None = None
        self.database_created = False

    # Bringing it up

    def up(self) -> None:
        self.database.create()
        self.database_created = True
        redis_url = f"redis://127.0.0.1:{self.redis_port}"
        self.env = production_env(
            DATABASE_URL=self.database.url,
            CELERY_BROKER_URL=f"{redis_url}/0",
            CHANNEL_LAYER_URL=f"{redis_url}/1",
            SAGABOARD_VAR_DIR=str(self.workdir / "var"),
            SAGABOARD_RECORD_HISTORIES=self.args.record_histories or "",
        )
        self.redis = self.topology.start(
            "redis", redis_command(self.redis_port, self.workdir), self.env
        )
        wait_redis(self.redis_port)
        manage("migrate", "--noinput", env=self.env)
        self.passwords = demo_passwords(manage("sagaboard", "demo", env=self.env))
        commands = procfile()
        self.web = self.topology.start("web", commands["web"], {**self.env, "PORT": str(self.port)})
        self.workers = [
            # On one machine, each worker needs a name of its own.
            self.topology.start(f"worker-{i}", f"{commands['worker']} -n worker{i}@%h", self.env)
            for i in range(1, WORKERS + 1)
        ]
        self.beat = self.topology.start("beat", commands["beat"], self.env)
        for worker in self.workers:
            worker.wait_for_log("ready.", timeout=90)
        self.web.wait_for_log("Application startup complete", timeout=90)
        self.beat.wait_for_log("Scheduler: Sending due task", timeout=90)
        self.admin = Client(self.base, "admin", self.passwords["admin"])
        self.approver = Client(self.base, "approver", self.passwords["approver"])
        self.cookie = session_cookie(self.base, "admin", self.passwords["admin"])
        self.graph = self._graphs()

    def _graphs(self) -> dict[str, dict[str, Any]]:
        """Per workflow, from its published spec: each step's ancestors and compensation."""
        graphs = {}
        for slug, spec in self.db.rows(
            "SELECT w.slug, v.spec FROM designer_version v JOIN designer_workflow w "
            "ON w.id = v.workflow_id WHERE v.status = 'published'"
        ):
            steps = {s["id"]: s for s in spec["steps"]}
            ancestors: dict[str, set[str]] = {}

            def up(sid: str, steps: dict[str, Any] = steps, ancestors: Any = ancestors) -> set[str]:
                if sid not in ancestors:
                    found: set[str] = set()
                    for parent in steps[sid].get("after", []):
                        found |= {parent, *up(parent)}
                    ancestors[sid] = found
                return ancestors[sid]

            graphs[slug] = {
                "ancestors": {sid: up(sid) for sid in steps},
                "undo": {
                    sid
                    for sid, s in steps.items()
                    if s.get("compensation")
                    or (s.get("do") or {}).get("compensation")
                    or s.get("type") == "subsaga"  # compensated by compensating its child
                },
                "children": {sid for sid, s in steps.items() if s.get("type") == "subsaga"},
                "maps": {sid for sid, s in steps.items() if s.get("type") == "map"},
                "pivots": {sid for sid, s in steps.items() if s.get("pivot")},
            }
        return graphs

    # Running it

    def go(self) -> None:
        runs = plan_runs(self.args.sagas, self.rng)
        self.runs = runs
        self.print_mix(runs)
        if self.args.plan:
            actions = self.args.plan.split(",")
        else:
            actions = ["kill"] * self.args.kills + ["redis", "postgres"]
            self.rng.shuffle(actions)
        window = max(20.0, len(runs) / self.args.rate)
        log(f"starting {len(runs)} runs over about {window:.0f} s, with chaos among them")

        board = BoardWatcher(self.base, self.cookie, random.Random(self.rng.random()))
        board.start()
        self.board = board
        self.run_watchers: list[RunWatcher] = []
        stop = threading.Event()
        approver = threading.Thread(target=self._approve_loop, args=(stop,), daemon=True)
        approver.start()
        self.started = 0
        chaos = threading.Thread(target=self._chaos, args=(actions, len(runs)), daemon=True)
        started_at = time.monotonic()
        try:
            chaos.start()
            self._start_runs(runs, window)
            chaos.join()
            log("chaos done; waiting for every run to settle")
            ids = [r.id for r in runs]
            deadline = time.monotonic() + self.args.timeout
            while (left := self.db.unsettled(ids)) and time.monotonic() < deadline:
                time.sleep(1.0)
            for worker in self.workers:
                # Only the chaos kills workers, and it starts each again: one that
                # exited on its own crashed (as kombu's Redis transport made them do
                # when Redis restarted under a busy worker: sagaboard/broker.py).
                if not worker.alive():
                    assert worker.proc is not None
                    self.violations.append(
                        f"{worker.name} exited on its own (status {worker.proc.returncode}); "
                        f"its last lines:\n{worker.log[-3000:]}"
                    )
            if left:
                self.violations.append(f"{left} runs did not settle within {self.args.timeout} s")
                # What the processes were saying by then, to find out why.
                for proc in self.topology.started:
                    print(f"----- {proc.name}, last lines -----\n{proc.log[-3000:]}")
            self.elapsed_runs = time.monotonic() - started_at
            log(f"{len(runs) - left} of {len(runs)} runs settled in {self.elapsed_runs:.0f} s")
        finally:
            stop.set()
            approver.join(10)
        self._settle_watchers()

    def print_mix(self, runs: list[Planned]) -> None:
        counts = Counter((r.scenario.workflow, r.scenario.name) for r in runs)
        print(f"Fault mix ({len(runs)} runs; every task step {LATENCY_MS[0]}-{LATENCY_MS[1]} ms):")
        for group, scenarios in (("fails for good", FAILURES), ("fails once", FLAKY)):
            total = sum(counts[(s.workflow, s.name)] for s in scenarios)
            print(f"  {group}: {total} ({total / max(len(runs), 1):.0%})")
            for s in scenarios:
                print(
                    f"    {counts[(s.workflow, s.name)]:5d}  {s.workflow}: {s.name} -> {s.status}"
                )
        clean = sum(counts[(s.workflow, s.name)] for s in CLEAN.values())
        print(f"  no fault: {clean} ({clean / max(len(runs), 1):.0%})", flush=True)

    def _start_runs(self, runs: list[Planned], window: float) -> None:
        pace = window / max(len(runs), 1)
        begin = time.monotonic()
        watch = set(self.rng.sample(range(len(runs)), min(WATCHED_RUNS, len(runs))))

        def start(run: Planned) -> None:
            delay = begin + run.index * pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            response = self.admin.call(
                "POST",
                f"/api/workflows/{run.scenario.workflow}/runs/",
                {"input": run.input, "idempotency_key": f"chaos-{run.index}"},
                ok=(200, 201),
            )
            run.id = str(response.json()["id"])
            if run.index in watch:
                watcher = RunWatcher(self.base, self.cookie, random.Random(run.index), run.id)
                watcher.start()
                self.run_watchers.append(watcher)
            self.started += 1

        with ThreadPoolExecutor(max_workers=6) as pool:
            for future in [pool.submit(start, run) for run in runs]:
                future.result()
        log(f"{len(runs)} runs started in {time.monotonic() - begin:.0f} s")

    def _chaos(self, actions: list[str], total: int) -> None:
        """The acts of chaos, spread over the starting of the runs, so that each meets
        runs in flight: the i-th once about i/(n+1) of the runs have been started."""
        for i, action in enumerate(actions, 1):
            due = total * (i + self.rng.uniform(-0.3, 0.3)) / (len(actions) + 1)
            while self.started < due and self.started < total:
                time.sleep(0.05)
            # "kill+redis": one act right after the other.
            for act in action.split("+"):
                try:
                    if act == "kill":
                        self._kill_worker()
                    elif act == "redis":
                        self._restart_redis()
                    else:
                        self._drop_connections()
                except Exception:
                    self.violations.append(f"chaos action {act} failed: {traceback.format_exc()}")

    def _kill_worker(self) -> None:
        victim = self.rng.choice(self.workers)
        victim.kill()
        self.tally.kills.append(victim.name)
        log(f"killed {victim.name} (SIGKILL)")
        time.sleep(self.rng.uniform(0.2, 1.0))
        since = len(victim.log)
        self.topology.restart(victim)
        victim.wait_for_log("ready.", timeout=90, since=since)
        self.tally.worker_restarts += 1

    def _restart_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()
        log("stopped redis-server")
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.topology.restart(self.redis)
        wait_redis(self.redis_port)
        self.tally.redis_restarts += 1
        log("started redis-server again (empty)")

    def _drop_connections(self) -> None:
        dropped = self.database.terminate_backends()
        self.tally.pg_drops += 1
        self.tally.pg_connections_dropped = dropped
        log(f"dropped {dropped} PostgreSQL connections (pg_terminate_backend)")

    def _approve_loop(self, stop: threading.Event) -> None:
        """The demo approver decides the order runs' gates, as each run's plan says."""
        plans: dict[str, Planned] = {}
        while not stop.is_set():
            try:
                plans.update((r.id, r) for r in self.runs if r.id and r.id not in plans)
                path = f"/api/runs/?workflow={ORDER}&status=waiting&page_size=200"
                while path and not stop.is_set():
                    page = self.approver.get(path)
                    for item in page["results"]:
                        run = plans.get(str(item["id"]))
                        if run is not None:
                            self._decide(run)
                    path = page.get("next") or ""
                    if path.startswith(self.base):
                        path = path[len(self.base) :]
            except Exception:
                self.notes.append(f"approver: {traceback.format_exc(limit=2)}")
            stop.wait(0.5)

    def _decide(self, run: Planned) -> None:
        plan = run.scenario.faults.get("manager_ok", {})
        verb = "reject" if plan.get("decision") == "reject" else "approve"
        response = self.approver.call(
            "POST",
            f"/api/runs/{run.id}/steps/manager_ok/{verb}/",
            {"comment": f"chaos run: {verb}"},
            ok=(200, 409),  # 409: decided already (a retried request), or not waiting yet
        )
        self.tally.approvals[verb if response.status_code == 200 else "conflict"] += 1

    def _settle_watchers(self) -> None:
        """Stop the random disconnects; give every client time to receive the last events."""
        watchers: list[Watcher] = [self.board, *self.run_watchers]
        for watcher in watchers:
            watcher.settle.set()
        last = dict(self.db.rows("SELECT id::text, last_seq FROM engine_run"))
        self.final_seq = last

        # The board is sent no iteration events: it has caught up at each run's last other.
        last_other = dict(
            self.db.rows(
                "SELECT run_id::text, max(seq) FROM engine_event "
                "WHERE type LIKE 'act.%%' OR NOT data ? 'index' GROUP BY run_id"
            )
        )

        def caught_up() -> bool:
            for watcher in self.run_watchers:
                if watcher.cursor < last.get(watcher.run_id, 0):
                    return False
            return board_coverage(self.board.log, last_other)[1] == 0

        try:
            poll(caught_up, timeout=30, every=0.5, what="the WebSocket clients catching up")
        except TimeoutError:
            pass  # the checks say what is missing
        for watcher in watchers:
            watcher.stop.set()
        for watcher in watchers:
            watcher.join(10)

    # Checking it

    def check(self) -> dict[str, Any]:
        ids = [r.id for r in self.runs]
        steps: dict[str, dict[str, str]] = defaultdict(dict)
        for run_id, step_id, status in self.db.rows(
            "SELECT run_id::text, step_id, status FROM engine_steprun"
        ):
            steps[run_id][step_id] = status
        db_status = dict(self.db.rows("SELECT id::text, status FROM engine_run"))
        iterations: dict[str, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
        for run_id, step_id, index, status in self.db.rows(
            'SELECT run_id::text, step_id, "index", status FROM engine_iteration'
        ):
            iterations[run_id][step_id][index] = status
        events: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.db.rows(
            "SELECT run_id::text, seq, type, step_id, status, attempt, error, data::text "
            "FROM engine_event ORDER BY run_id, seq"
        ):
            events[row[0]].append(row[1:])
        counts: dict[str, Any] = {"diverted": 0, "as_planned": 0, "ledger_keys": 0}

        def from_api(run: Planned) -> tuple[Planned, dict[str, Any], list[Any], list[Any]]:
            body = self.admin.get(f"/api/runs/{run.id}/")
            logged = self.admin.get(f"/api/runs/{run.id}/events/?after=0")
            ledger = self.admin.get(f"/api/demo/ledger/?run={run.id}")
            return run, body, logged, ledger

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(from_api, self.runs))
        children = {
            (parent, step): (child, status)
            for child, parent, step, status in self.db.rows(
                "SELECT id::text, parent_run_id::text, parent_step, status FROM engine_run "
                "WHERE parent_run_id IS NOT NULL"
            )
        }
        for run, body, logged, ledger in answers:
            self._check_run(run, body, logged, ledger, db_status, steps, events, counts)
            self._check_iterations(run, ledger, steps[run.id], iterations[run.id], events)
            self._check_children(run, steps[run.id], children, counts)
        counts["statuses"] = Counter(db_status[i] for i in ids)
        gates = Counter(steps[i].get("manager_ok") for i in ids)
        counts["gates_skipped"] = gates["skipped"]
        counts["gates_run"] = gates["succeeded"] + gates["failed"]
        counts["events"] = sum(len(events[i]) for i in ids)
        self._check_streams(events, counts)
        return counts

    def _check_run(
        self,
        run: Planned,
        body: dict[str, Any],
        logged: list[dict[str, Any]],
        ledger: list[dict[str, Any]],
        db_status: dict[str, str],
        steps: dict[str, dict[str, str]],
        events: dict[str, list[tuple[Any, ...]]],
        counts: dict[str, Any],
    ) -> None:
        bad = self.violations.append
        name = f"run {run.id} ({run.scenario.workflow}: {run.scenario.name})"
        status, statuses = db_status[run.id], steps[run.id]
        log_rows = events[run.id]
        # The API says what the database holds.
        api_steps = {s["id"]: s["status"] for s in body["steps"]}
        if body["status"] != status or api_steps != statuses:
            bad(f"{name}: the API shows {body['status']} {api_steps}, the database {status}")
        if [e["seq"] for e in logged] != [r[0] for r in log_rows]:
            bad(f"{name}: the events API differs from the log")
        seqs = [r[0] for r in log_rows]
        if seqs != list(range(1, len(seqs) + 1)) or len(seqs) != self.final_seq.get(run.id):
            bad(f"{name}: the log's seqs are not 1..last_seq: {seqs}")

        expected = run.scenario
        if status == expected.status and statuses == expected.steps:
            counts["as_planned"] += 1
        else:
            # A kill or a dropped connection may use up a step's attempts, so that it gives
            # up where no fault was injected: legitimate, when its log shows that failure.
            maps = self.graph[run.scenario.workflow]["maps"]
            diverted = [
                sid
                for sid, st in statuses.items()
                if expected.steps.get(sid) != st
                and (
                    (
                        st in ("failed", "compensation_failed")
                        and self._chaos_failure(log_rows, sid, compensation=st != "failed")
                    )
                    # a map an iteration of which gave up, compensated since
                    or (
                        sid in maps
                        and st == "compensated"
                        and self._chaos_failure(log_rows, sid, compensation=False)
                    )
                )
            ]
            if diverted:
                counts["diverted"] += 1
                self.notes.append(f"{name}: {status}, {diverted} gave up after chaos failures")
            else:
                bad(f"{name}: ended {status} {statuses}; expected {expected.status} "
                    f"{expected.steps}")  # fmt: skip
        self._check_shape(name, run, status, statuses, log_rows)
        self._check_ledger(name, run, statuses, ledger, log_rows, counts)

    def _check_iterations(
        self,
        run: Planned,
        ledger: list[dict[str, Any]],
        statuses: dict[str, str],
        iterations: dict[str, dict[int, str]],
        events: dict[str, list[tuple[Any, ...]]],
    ) -> None:
        """A map's iterations, each as a step: its effect once, undone once if compensated,
        and the compensations begun highest index first."""
        bad = self.violations.append
        name = f"run {run.id} ({run.scenario.workflow}: {run.scenario.name})"
        applied = {e["idempotency_key"]: e["applied"] for e in ledger}
        for sid in self.graph[run.scenario.workflow]["maps"]:
            found = iterations.get(sid, {})
            lines = len(run.input.get("lines", []))
            if statuses.get(sid) not in ("pending", "skipped") and len(found) != lines:
                bad(f"{name}: {sid} has {len(found)} iterations for {lines} items")
            for index, status in found.items():
                key = f"{run.id}:{sid}:{index}"
                action, undo = applied.get(key, 0), applied.get(f"{key}:compensate", 0)
                if status in ("succeeded", "compensated", "compensating", "compensation_failed"):
                    if action != 1:
                        bad(f"{name}: {sid}[{index}] is {status}, its effect applied {action}x")
                if status == "compensated" and undo != 1:
                    bad(f"{name}: {sid}[{index}] is compensated, its compensation applied {undo}x")
                lost = status == "compensation_failed" and self._chaos_failure(
                    events[run.id], sid, compensation=True
                )
                if status != "compensated" and undo and not lost:
                    bad(f"{name}: {sid}[{index}] is {status} but its compensation was applied")
            if statuses.get(sid) == "compensated" and set(found.values()) - {
                "compensated",
                "failed",
                "skipped",
                "pending",
            }:
                bad(f"{name}: {sid} compensated with iterations {found}")
            begun: list[int] = []
            for _, kind, step, _, _, _, data in events[run.id]:
                index = json.loads(data).get("index") if step == sid else None
                if kind == "step.compensation_started" and index is not None and index not in begun:
                    begun.append(index)
            if begun != sorted(begun, reverse=True):
                bad(f"{name}: {sid}'s iterations began to compensate in the order {begun}")
            self.map_compensations = getattr(self, "map_compensations", 0) + len(begun)

    def _check_children(
        self,
        run: Planned,
        statuses: dict[str, str],
        children: dict[tuple[str, str], tuple[str, str]],
        counts: dict[str, Any],
    ) -> None:
        """A child saga step and its child run agree, and the child's effects happened once
        and were undone exactly when the parent's step was."""
        bad = self.violations.append
        name = f"run {run.id} ({run.scenario.workflow}: {run.scenario.name})"
        for sid in self.graph[run.scenario.workflow]["children"]:
            status = statuses.get(sid)
            found = children.get((run.id, sid))
            if status in ("pending", "skipped", None):
                if found is not None:
                    bad(f"{name}: {sid} is {status} but started a child run")
                continue
            if found is None:
                bad(f"{name}: {sid} is {status} without a child run")
                continue
            child, child_status = found
            counts["children"] = counts.get("children", 0) + 1
            agree = {
                "succeeded": {"completed"},
                "compensated": {"compensated"},
                "failed": {"compensated", "cancelled"},
                "compensation_failed": {"completed", "compensating", "stuck"},
            }
            if child_status not in agree.get(status, {child_status}):
                bad(f"{name}: {sid} is {status}, its child run {child} {child_status}")
            ledger = self.admin.get(f"/api/demo/ledger/?run={child}")
            applied = {e["idempotency_key"]: e["applied"] for e in ledger}
            if any(n > 1 for n in applied.values()):
                bad(f"{name}: the child run {child} applied an effect twice: {applied}")
            done = applied.get(f"{child}:charge", 0)
            undone = applied.get(f"{child}:charge:compensate", 0)
            if status == "compensated" and done and not undone:
                bad(f"{name}: {sid} is compensated but its child's charge was not refunded")
            if status == "succeeded" and (not done or undone):
                bad(f"{name}: {sid} succeeded; its child's charge: {done} done, {undone} undone")

    @staticmethod
    def _chaos_failure(log_rows: list[tuple[Any, ...]], step: str, *, compensation: bool) -> bool:
        types = ("step.compensation_failed",) if compensation else ("step.failed",)
        types += ("step.retry_scheduled",)
        for _, kind, sid, _, _, error, data in log_rows:
            is_compensation = '"compensation": true' in data or kind.startswith("step.compensation")
            if sid == step and kind in types and is_compensation == compensation:
                if error and not any(mark in error for mark in INJECTED):
                    return True
        return False

    def _check_shape(
        self,
        name: str,
        run: Planned,
        status: str,
        statuses: dict[str, str],
        log_rows: list[tuple[Any, ...]],
    ) -> None:
        """Whatever the plan: the terminal state is one the semantics allow."""
        bad = self.violations.append
        graph = self.graph[run.scenario.workflow]
        succeeded = {r[2] for r in log_rows if r[1] == "step.succeeded"}
        if status == "completed":
            if set(statuses.values()) - {"succeeded", "skipped"}:
                bad(f"{name}: completed with steps {statuses}")
        elif status == "compensated":
            owed = succeeded & graph["undo"]
            compensated = {sid for sid, st in statuses.items() if st == "compensated"}
            if compensated != owed:
                bad(f"{name}: compensated {sorted(compensated)}; had succeeded {sorted(owed)}")
            if set(statuses.values()) & {"running", "retrying", "waiting", "compensating"}:
                bad(f"{name}: compensated with steps in flight {statuses}")
        elif status == "stuck":
            passed = any(statuses.get(p) in ("succeeded", "skipped") for p in graph["pivots"])
            failed_after_pivot = passed and "failed" in statuses.values()
            if "compensation_failed" not in statuses.values() and not failed_after_pivot:
                bad(f"{name}: stuck without a failure after the pivot or in a compensation")
        else:
            bad(f"{name}: ended {status}")
        # Compensations in reverse graph order: a step's compensation starts only once the
        # compensations of the steps after it have finished.
        started: dict[str, int] = {}
        finished: dict[str, int] = {}
        for seq, kind, sid, *_ in log_rows:
            if kind == "step.compensation_started":
                started.setdefault(sid, seq)
            elif kind == "step.compensated":
                finished[sid] = seq
        for sid, begun in started.items():
            for later, ancestors in graph["ancestors"].items():
                if sid in ancestors and later in graph["undo"] and later in succeeded:
                    done = finished.get(later)
                    if done is None or done > begun:
                        bad(f"{name}: {sid} compensation began (seq {begun}) before {later}'s "
                            f"had finished ({done})")  # fmt: skip
        self.compensation_orders = getattr(self, "compensation_orders", 0) + len(started)

    def _check_ledger(
        self,
        name: str,
        run: Planned,
        statuses: dict[str, str],
        ledger: list[dict[str, Any]],
        log_rows: list[tuple[Any, ...]],
        counts: dict[str, Any],
    ) -> None:
        bad = self.violations.append
        counts["ledger_keys"] += len(ledger)
        applied = {}
        for entry in ledger:
            counts["max_applied"] = max(counts.get("max_applied", 0), entry["applied"])
            if entry["applied"] > 1:
                bad(f"{name}: {entry['idempotency_key']} applied {entry['applied']} times")
            applied[entry["idempotency_key"]] = entry["applied"]
        maps = self.graph[run.scenario.workflow]["maps"]
        for sid, st in statuses.items():
            if run.scenario.workflow == ORDER and sid == "manager_ok":
                continue  # an approval, no participant
            if sid in maps or sid in self.graph[run.scenario.workflow]["children"]:
                continue  # its iterations, or its child run, are checked on their own
            action = applied.get(f"{run.id}:{sid}", 0)
            undo = applied.get(f"{run.id}:{sid}:compensate", 0)
            if st in ("succeeded", "compensated", "compensating", "compensation_failed"):
                if action != 1:
                    bad(f"{name}: {sid} is {st} but its effect was applied {action} times")
            if st == "compensated" and undo != 1:
                bad(f"{name}: {sid} is compensated but its compensation applied {undo} times")
            # A compensation applied, whose attempts were then all lost to the chaos.
            lost = st == "compensation_failed" and self._chaos_failure(
                log_rows, sid, compensation=True
            )
            if st != "compensated" and undo and not lost:
                bad(f"{name}: {sid} is {st} but its compensation was applied")
            if st == "failed" and action:
                # Applied, then given up on: an effect no compensation will undo.
                self.notes.append(f"{name}: {sid} failed after its effect was applied")

    def _check_streams(
        self, events: dict[str, list[tuple[Any, ...]]], counts: dict[str, Any]
    ) -> None:
        bad = self.violations.append
        checked = 0
        for watcher in self.run_watchers:
            logged = events[watcher.run_id]
            seen = [(e["seq"], e["event"], e["step"] or "", e["status"]) for e in watcher.events]
            # Every event but a map's iterations' (summarised as progress), once, in order.
            want = [(r[0], r[1], r[2], r[3]) for r in logged if not is_iteration_row(r)]
            checked += len(seen)
            if seen != want:
                seqs, logged_seqs = [s[0] for s in seen], [w[0] for w in want]
                bad(f"run client {watcher.run_id}: saw seqs {seqs}, the log has {logged_seqs}"
                    if seqs != logged_seqs
                    else f"run client {watcher.run_id}: events differ from the log")  # fmt: skip
            if watcher.cursor < len(logged):
                bad(f"run client {watcher.run_id}: reached seq {watcher.cursor} of {len(logged)}")
            for problem in watcher.progress_behind:
                bad(f"run client {watcher.run_id}: {problem}")
            for error in watcher.errors:
                bad(f"run client {watcher.run_id}: {error}")
        if self.args.logs:
            with open(Path(self.args.logs) / "board.json", "w") as out:
                json.dump(self.board.log, out, default=str)
        live, missing, problems = board_coverage(self.board.log, self.final_seq, events)
        for problem in problems:
            bad(f"board client: {problem}")
        if missing:
            bad(f"board client: {missing} events neither received nor in a snapshot")
        for error in self.board.errors:
            bad(f"board client: {error}")
        counts["ws"] = {
            "run_clients": len(self.run_watchers),
            "run_events": checked,
            "run_connections": sum(w.connections for w in self.run_watchers),
            "board_events": live,
            "board_connections": self.board.connections,
            "closes": sum((w.forced_closes for w in [self.board, *self.run_watchers]), Counter()),
        }


def board_coverage(
    board_log: list[tuple[Any, ...]],
    last_seq: dict[str, int],
    events: dict[str, list[tuple[Any, ...]]] | None = None,
) -> tuple[int, int, list[str]]:
    """The board's frames against the log: (events received, events missing, problems).

    Per run, events must come in seq order without a duplicate and without a gap, except
    across a snapshot (which says the run's latest seq) or for a run first seen live (a
    run not in a snapshot starts from its first event that reaches the socket).
    """
    problems: list[str] = []
    # The next seq expected per run; None: any (left out of a truncated snapshot, so the
    # run is followed again from its first event that reaches the socket). A run never
    # seen must start at 1, unless a truncated snapshot may have left it out.
    nxt: dict[str, int | None] = {}
    truncated_seen = False
    received = 0
    for entry in board_log:
        if entry[0] == "snapshot":
            _, runs, truncated, *_ = entry
            for run, seq in runs.items():
                before = nxt.get(run)
                if before is not None and seq + 1 < before:
                    problems.append(f"snapshot says {run} is at {seq}, after {before - 1} came")
                nxt[run] = seq + 1
            if truncated:
                truncated_seen = True
                for run in [r for r in nxt if r not in runs]:
                    nxt[run] = None
            continue
        event = entry[1]
        run, seq = event["run"], event["seq"]
        received += 1
        want = nxt.get(run, None if truncated_seen else 1)
        if want is not None and events is not None and run in events:
            # The board is sent no iteration events: its seqs jump over them.
            want = _past_iterations(events[run], want)
        if want is not None and seq != want:
            kind = "twice" if seq < want else "after a gap"
            problems.append(
                f"run {run}: seq {seq} {kind} (expected {want}); logged at {event['at']}, "
                f"received at {entry[3]} on connection {entry[2]}"
            )
        if events is not None and run in events:
            row = events[run][seq - 1] if 0 < seq <= len(events[run]) else None
            if row is None or (row[1], row[2], row[3]) != (
                event["event"],
                event["step"] or "",
                event["status"],
            ):
                problems.append(f"run {run}: seq {seq} differs from the log")
        nxt[run] = max(seq + 1, want or 0)
    missing = 0
    for run, last in last_seq.items():
        want = nxt.get(run, 1)
        if want is not None:
            if events is not None and run in events:
                want = _past_iterations(events[run], want)
            missing += max(0, last - (want - 1))
    return received, missing, problems[:50]


def _past_iterations(log: list[tuple[Any, ...]], seq: int) -> int:
    """The first seq from ``seq`` on that is not an iteration's event."""
    while 0 < seq <= len(log) and is_iteration_row(log[seq - 1]):
        seq += 1
    return seq


def summary(run: ChaosRun, counts: dict[str, Any], elapsed: float) -> str:
    statuses = counts["statuses"]
    ws = counts["ws"]
    closes = ", ".join(f"{code}: {n}" for code, n in sorted(ws["closes"].items())) or "none"
    lines = [
        "Chaos run summary",
        f"  sagas: {len(run.runs)}  seed: {run.args.seed}  elapsed: {elapsed:.0f} s "
        f"(runs settled after {getattr(run, 'elapsed_runs', 0):.0f} s)",
        "  runs by status: "
        + ", ".join(f"{s} {statuses.get(s, 0)}" for s in ("completed", "compensated", "stuck"))
        + "".join(f", {s} {n}" for s, n in statuses.items() if s not in SETTLED + ("stuck",)),
        f"  outcome as planned: {counts['as_planned']}; steps given up after chaos failures: "
        f"{counts['diverted']}",
        f"  worker kills (SIGKILL): {len(run.tally.kills)} ({', '.join(run.tally.kills) or '-'})"
        f"; worker restarts: {run.tally.worker_restarts}",
        f"  redis restarts: {run.tally.redis_restarts}; PostgreSQL drops: {run.tally.pg_drops} "
        f"({run.tally.pg_connections_dropped} connections terminated)",
        f"  approvals: {dict(run.tally.approvals)}",
        f"  events checked: {counts['events']} in the log; compensations ordered: "
        f"{getattr(run, 'compensation_orders', 0)}, of map iterations (highest index first): "
        f"{getattr(run, 'map_compensations', 0)}",
        f"  order gates run / skipped by their condition: {counts.get('gates_run', 0)} / "
        f"{counts.get('gates_skipped', 0)}; child runs checked: {counts.get('children', 0)}",
        f"  ledger: {counts['ledger_keys']} idempotency keys, at most applied "
        f"{counts.get('max_applied', 0)} time(s)",
        f"  websocket: {ws['run_clients']} run clients saw {ws['run_events']} events over "
        f"{ws['run_connections']} connections; the board saw {ws['board_events']} events over "
        f"{ws['board_connections']} connections; server closes: {closes}",
        f"  violations: {len(run.violations)}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=float, default=10.0, help="runs started per second")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to settle")
    parser.add_argument("--logs", help="keep the processes' logs in this folder")
    parser.add_argument(
        "--record-histories",
        help="record every run's decisions in this folder (tests/histories/keep.py)",
    )
    parser.add_argument(
        "--plan",
        help="the acts in order instead of --kills shuffled with one of each other, e.g. "
        "'kill,kill+redis,postgres' (kill, redis, postgres; '+' joins acts done back to back)",
    )
    args = parser.parse_args()
    if args.plan:
        unknown = {a for step in args.plan.split(",") for a in step.split("+")} - {
            "kill",
            "redis",
            "postgres",
        }
        if unknown:
            parser.error(f"--plan: unknown acts {sorted(unknown)}; kill, redis, postgres are known")
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    if args.timeout is None:
        args.timeout = max(180.0, args.sagas * 0.5)
    began = time.monotonic()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # A stop from outside (a CI timeout) still stops every process and drops the database.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    with tempfile.TemporaryDirectory(prefix="sagaboard-chaos-") as tmp:
        workdir = Path(args.logs) if args.logs else Path(tmp)
        run = ChaosRun(args, workdir)
        log(f"chaos run: {args.sagas} sagas, {args.kills} kills, seed {args.seed}")
        try:
            run.up()
            run.go()
            counts = run.check()
        except BaseException:
            traceback.print_exc()
            print("The chaos run could not finish; last lines of each process's log:")
            for proc in run.topology.started:
                print(f"----- {proc.name} -----\n{proc.log[-2000:]}")
            return 2
        finally:
            run.topology.stop_all()
            if run.database_created:
                try:
                    run.database.drop()
                except Exception as exc:
                    print(f"could not drop {run.database.name}: {exc!r}", file=sys.stderr)
        for note in run.notes[:40]:
            print(f"note: {note}")
        for violation in run.violations[:100]:
            print(f"VIOLATION: {violation}")
        print(summary(run, counts, time.monotonic() - began), flush=True)
        return 1 if run.violations else 0


if __name__ == "__main__":
    sys.exit(main())
