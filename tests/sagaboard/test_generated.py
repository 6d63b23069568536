"""The files generated from the code are current: the schema, the front end's vocabulary and
its API types. A change to the kernel's words or to the API that is not generated again fails
here, not in a browser."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from saga import vocabulary
from sagaboard.generate import FILES, generate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_every_generated_file_is_current() -> None:
    stale = generate(check=True)
    assert stale == [], f"run `manage.py sagaboard generate`: {[str(p) for p in stale]}"
    assert all(path.exists() for path in FILES)


def test_the_front_end_takes_its_statuses_from_the_generated_vocabulary() -> None:
    text = (ROOT / "frontend/src/generated/vocabulary.ts").read_text()
    for status in (*vocabulary.RunStatus, *vocabulary.StepStatus, *vocabulary.EventType):
        assert f'"{status}"' in text


def _status_literals(path: Path) -> list[tuple[int, str]]:
    statuses = {str(s) for s in (*vocabulary.RunStatus, *vocabulary.StepStatus)}
    tree = ast.parse(path.read_text(), filename=str(path))
    # Not statuses where they stand: docstrings, and names of fields (dict keys, the
    # keys looked up with .get()), such as a count of "failed" attempts.
    names = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            names.update(id(key) for key in node.keys if key is not None)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
        ):
            names.update(id(arg) for arg in node.args[:1])
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in statuses
        and id(node) not in names
    ]


def test_no_status_is_written_as_a_string_outside_the_kernel() -> None:
    found = {}
    for app in ("common", "designer", "engine", "demo", "sagaboard"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            literals = _status_literals(path)
            if literals:
                found[str(path.relative_to(ROOT))] = literals
    assert found == {}, "take statuses from saga.vocabulary, not string literals"
