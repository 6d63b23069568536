"""`make run` installs what running needs, `make test` and `make lint` the tools too, into
one virtualenv, and neither installs again what the other has installed.

Checked with `make -n` (what make would do, nothing done) on a virtualenv folder of the
test's own, so it takes a second.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, venv: Path) -> str:
    make = shutil.which("make")
    assert make, "make is not installed"
    result = subprocess.run(
        [make, "-n", f"VENV={venv}", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def pip_installs(plan: str) -> list[str]:
    return [line for line in plan.splitlines() if "pip install" in line]


def deps_hash() -> str:
    pins = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    return hashlib.sha1(pins).hexdigest()[:12]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A virtualenv folder with a python in it (what `python -m venv` leaves)."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").touch()
    return tmp_path


def test_run_installs_the_base_dependencies_only(venv):
    (install,) = pip_installs(planned("run", venv))
    assert install.endswith(" -e .")
    assert "[dev]" not in install


def test_test_and_lint_install_the_dev_extra(venv):
    for target in ("test", "lint"):
        (install,) = pip_installs(planned(target, venv))
        assert install.endswith(" -e '.[dev]'")


def test_run_after_test_installs_nothing(venv):
    # What `make test` leaves: its stamp and the run's.
    for purpose in ("dev", "run"):
        (venv / f".installed-{purpose}-{deps_hash()}").touch()
    assert pip_installs(planned("run", venv)) == []
    assert pip_installs(planned("lint", venv)) == []


def test_test_after_run_adds_the_dev_extra(venv):
    (venv / f".installed-run-{deps_hash()}").touch()
    assert pip_installs(planned("run", venv)) == []
    (install,) = pip_installs(planned("lint", venv))
    assert "[dev]" in install


def test_a_change_to_the_pins_installs_again(venv):
    for purpose in ("dev", "run"):
        (venv / f".installed-{purpose}-000000000000").touch()
    assert len(pip_installs(planned("run", venv))) == 1
