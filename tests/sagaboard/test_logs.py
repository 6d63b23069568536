"""Structured logs: each record names its run, step and correlation id; JSON in production."""

from __future__ import annotations

import json
import logging
import logging.config
import subprocess
import sys
from pathlib import Path

import pytest

from common.logs import log_context

ROOT = Path(__file__).resolve().parents[2]


def configured(stream, fmt: str) -> logging.Logger:
    from django.conf import settings

    config = {**settings.LOGGING, "root": {"handlers": ["console"], "level": "INFO"}}
    config["handlers"] = {
        "console": {**settings.LOGGING["handlers"]["console"], "formatter": fmt, "stream": stream}
    }
    logging.config.dictConfig(config)
    return logging.getLogger("sagaboard.engine")


@pytest.fixture(autouse=True)
def restore_logging():
    from django.conf import settings

    yield
    logging.config.dictConfig(settings.LOGGING)


def test_json_records_carry_the_run_step_and_correlation_id(tmp_path):
    path = tmp_path / "log"
    with path.open("w") as stream:
        log = configured(stream, "json")
        with log_context(run_id="r-1", correlation_id="c-1"):
            with log_context(step_id="charge"):
                log.info("charged %s", "order 7")
            log.warning("after the step")
        log.info("outside any run")
    first, second, third = (json.loads(line) for line in path.read_text().splitlines())
    assert first["message"] == "charged order 7"
    assert first["level"] == "INFO" and first["logger"] == "sagaboard.engine"
    assert (first["run_id"], first["step_id"], first["correlation_id"]) == ("r-1", "charge", "c-1")
    assert (second["run_id"], second["step_id"]) == ("r-1", "")  # the inner block ended
    assert third["run_id"] == "" and "time" in third


def test_plain_records_append_the_ids(tmp_path):
    path = tmp_path / "log"
    with path.open("w") as stream:
        log = configured(stream, "plain")
        with log_context(run_id="r-1", step_id="ship"):
            log.info("shipped")
        log.info("idle")
    inside, outside = path.read_text().splitlines()
    assert inside.endswith("shipped [run=r-1 step=ship]")
    assert outside.endswith("idle")


def test_unknown_fields_are_refused():
    with pytest.raises(TypeError, match="tenant"):
        with log_context(tenant="acme"):
            pass


def test_production_logs_are_json(tmp_path):
    code = (
        "import django, logging; django.setup();"
        "from common.logs import log_context;"
        "ctx = log_context(run_id='r-9'); ctx.__enter__();"
        "logging.getLogger('sagaboard.engine').warning('hello')"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "sagaboard.settings",
        "SAGABOARD_ENV": "production",
        "DJANGO_SECRET_KEY": "k" * 60,
        "DJANGO_ALLOWED_HOSTS": "sagaboard.example.com",
        "SAGABOARD_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["message"] == "hello" and record["run_id"] == "r-9"
