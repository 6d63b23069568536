"""The chaos run at CI size: bench/chaos.py --sagas 100 --kills 2, as a subprocess.

It brings up its own topology (a database of its own on the suite's PostgreSQL server, a
redis-server of its own, the ASGI server, three workers and beat), kills workers, restarts
its Redis and drops the database's connections while 100 sagas run, then checks every run,
ledger and WebSocket client. Any violation makes it exit non-zero.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_a_hundred_sagas_through_kills_and_restarts_lose_nothing_and_do_nothing_twice():
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        pytest.fail("The chaos run needs PostgreSQL: run it with scripts/test.sh")
    result = subprocess.run(
        [sys.executable, "bench/chaos.py", "--sagas", "100", "--kills", "2"],
        cwd=ROOT,
        # The script makes a database of its own on this server, and its own Redis.
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output[-6000:]
    summary = output[output.index("Chaos run summary") :]
    counts = re.search(r"runs by status: completed (\d+), compensated (\d+), stuck (\d+)", summary)
    assert counts, summary
    assert sum(int(n) for n in counts.groups()) == 100, summary
    # Each kind of outcome happened: the faults reached before and after the pivot.
    assert all(int(n) > 0 for n in counts.groups()), summary
    assert "worker kills (SIGKILL): 2 " in summary, summary
    assert "redis restarts: 1;" in summary and "PostgreSQL drops: 1 " in summary, summary
    assert re.search(r"at most applied 1 time", summary), summary
    assert summary.rstrip().endswith("violations: 0"), summary
