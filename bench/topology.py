"""The production topology on one machine, for scripts: servers, workers and beat.

Every process runs in a session of its own, so that a signal or a kill reaches all of it
(a Celery worker and its pool children), and :class:`Topology` stops every process it
started, whatever happened. Plain functions and classes, no test framework: the chaos
run (bench/chaos.py) is a script.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432"
T = TypeVar("T")


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(check: Callable[[], T], *, timeout: float, every: float = 0.2, what: str = "") -> T:
    """``check()`` once it returns something true; raises TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what or check}")
        time.sleep(every)


def uvicorn_command(port: int) -> list[str]:
    """The ASGI server on 127.0.0.1:``port``, logging warnings only."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "sagaboard.asgi:application",
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
    ]


def worker_command(
    name: str, *, concurrency: int, pool: str = "prefork", flags: Sequence[str] = ()
) -> list[str]:
    """A Celery worker named ``name@host``; ``flags`` go last."""
    return [
        sys.executable,
        "-m",
        "celery",
        *("-A", "sagaboard", "worker", "-P", pool, "-c", str(concurrency)),
        *("-n", f"{name}@%h"),
        *flags,
    ]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any of Sagaboard's settings, plus ``extra``."""
    names = ("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("DJANGO_", "SAGABOARD_"))
    }
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def procfile() -> dict[str, str]:
    """The Procfile's commands by process type."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def with_db(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead of its own."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class Proc:
    """One long-running process, in a session of its own, with its output in a log file."""

    def __init__(self, name: str, command: list[str] | str, env: dict[str, str], logs: Path):
        self.name = name
        self.command = command
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        command = self.command
        if isinstance(command, str):
            # A Procfile line, run as a process manager does: by a shell that the command
            # then replaces, so that signals reach the command itself.
            command = f"exec {command}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_log(self, text: str, *, timeout: float, since: int = 0) -> None:
        """Until ``text`` shows in the log after its first ``since`` characters."""

        def seen() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log[-4000:]}")
            return text in self.log[since:]

        poll(seen, timeout=timeout, what=f"{text!r} in the log of {self.name}")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process only (as Ctrl-C or a supervisor's stop would)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has ended (``subprocess.TimeoutExpired``)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the process and all its children, as a crash would."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop every process of the group, the leader gone or not: SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.proc.poll()  # reaps the leader, whose zombie would count as alive
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


class Topology:
    """The processes of one installation; :meth:`stop_all` ends every one it started."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Proc] = []

    def start(self, name: str, command: list[str] | str, env: dict[str, str]) -> Proc:
        proc = Proc(name, command, env, self.logs).start()
        self.started.append(proc)
        return proc

    def restart(self, proc: Proc) -> Proc:
        """Start ``proc``'s command again (its log goes on)."""
        return proc.start()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {proc.name}: {exc!r}", file=sys.stderr)


def redis_command(port: int, directory: Path) -> list[str]:
    """A redis-server that keeps nothing on disk: a restart forgets every message."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


def wait_redis(port: int, timeout: float = 20) -> None:
    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    poll(answers, timeout=timeout, every=0.05, what=f"redis-server on port {port}")


class Database:
    """A fresh PostgreSQL database on the server of ``base_url``, dropped at the end."""

    def __init__(self, base_url: str, name: str) -> None:
        import psycopg2

        self.name = name
        self.url = with_db(base_url, name)
        self._admin_url = with_db(base_url, "postgres")
        self._psycopg2 = psycopg2

    def _admin(self) -> Any:
        connection = self._psycopg2.connect(self._admin_url)
        connection.autocommit = True
        return connection

    def create(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            connection.close()

    def terminate_backends(self) -> int:
        """Drop every connection to the database (``pg_terminate_backend``); how many."""
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.name],
                )
                return int(cursor.fetchone()[0])
        finally:
            connection.close()

    def drop(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            connection.close()


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    """Run ``manage.py`` to the end; its output (raises on failure)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def demo_passwords(output: str) -> dict[str, str]:
    """The passwords `manage.py sagaboard demo` printed, by user."""
    found = dict(re.findall(r"^ {4}(\w+) +(\S+)$", output, re.MULTILINE))
    if not {"admin", "author", "operator"} <= set(found):
        raise RuntimeError(f"no demo users in the output of `sagaboard demo`:\n{output}")
    return found


def production_env(**extra: str) -> dict[str, str]:
    """The settings of a production installation on this machine, plus ``extra``."""
    return clean_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        SAGABOARD_HTTP_ALLOWED_HOSTS="127.0.0.1",
        SAGABOARD_DEMO_TRAFFIC="0",
        **extra,
    )


class Api:
    """The REST API with a token, as a script uses it."""

    def __init__(self, base: str, username: str, password: str, *, timeout: float = 30) -> None:
        self.client = httpx.Client(base_url=base, timeout=timeout)
        response = self.client.post(
            "/api/auth/token/", data={"username": username, "password": password}
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Token {response.json()['token']}"

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=body)

    def close(self) -> None:
        self.client.close()


def session_cookie(base: str, username: str, password: str) -> str:
    """Sign in on the login page, as a browser does; the session id."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not token:
            raise RuntimeError(f"no CSRF token on the login page: {page.text[:300]}")
        response = client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/login/"},
        )
        session = client.cookies.get("sessionid")
        if response.status_code != 302 or not session:
            raise RuntimeError(f"could not sign in as {username}: {response.status_code}")
        return session
