"""Expressions of ``sagaboard/v1``: CEL (the Common Expression Language of Kubernetes and
Envoy: safe, side-effect free, always terminating), through the ``cel`` library.

A step's ``when`` is one: a condition over ``input`` and ``steps.<id>.output``
(inside a map, also ``item`` and ``index``). Programs are compiled once and
kept. Evaluating one is pure computation, but the kernel never evaluates on
its own in ``decide``: it asks the shell (``EvaluateCondition``) and takes the
outcome as a happening (``ConditionEvaluated``), so the outcome is in the
run's history and a replay never evaluates again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cel

__all__ = [
    "ExpressionError",
    "ROOTS",
    "activation",
    "compile_error",
    "condition",
    "evaluate",
    "items",
    "references",
]

#: The names an expression may start from (``item`` and ``index`` only inside a map).
ROOTS = ("input", "steps", "item", "index")
#: Longest expression text a spec may hold.
MAX_LENGTH = 2000


class ExpressionError(ValueError):
    """An expression that does not compile, or fails as it is evaluated; the message says
    where and why, in words for the author."""


@lru_cache(maxsize=4096)
def _program(text: str) -> Any:
    try:
        return cel.compile(text)
    except (ValueError, RuntimeError) as exc:
        raise ExpressionError(_syntax_message(str(exc))) from None


def _syntax_message(raw: str) -> str:
    # "Failed to parse expression '...': ERROR: <input>:1:15: Syntax error: ..." and a
    # picture of where; the first line's reason and position are what an author needs.
    found = re.search(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)", raw)
    if not found:
        return raw.splitlines()[0] if raw else "does not compile"
    line, column, reason = found.groups()
    return f"{reason} (line {line}, column {column})"


def compile_error(text: str) -> str | None:
    """Why ``text`` does not compile, or None when it does."""
    try:
        _program(text)
    except ExpressionError as exc:
        return str(exc)
    return None


def evaluate(text: str, activation: Mapping[str, Any]) -> Any:
    """The value of ``text`` where its names mean what ``activation`` says."""
    program = _program(text)
    try:
        return program.execute(dict(activation))
    except KeyError as exc:
        raise ExpressionError(f"no such field {exc.args[0]!r}") from None
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ExpressionError(
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ) from None


def condition(text: str, activation: Mapping[str, Any]) -> bool:
    """``text`` as a condition: true or false, and nothing else."""
    value = evaluate(text, activation)
    if not isinstance(value, bool):
        raise ExpressionError(f"a condition must be true or false, not {_kind(value)}")
    return value


def items(text: str, activation: Mapping[str, Any], *, most: int = 10_000) -> list[Any]:
    """``text`` as a map's items: a list of at most ``most`` items, and nothing else."""
    value = evaluate(text, activation)
    if not isinstance(value, list):
        raise ExpressionError(f"a map's items must be a list, not {_kind(value)}")
    if len(value) > most:
        raise ExpressionError(f"a map takes at most {most} items; this list has {len(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def activation(run_input: Any, steps: Mapping[str, Any]) -> dict[str, Any]:
    """What a condition's names mean in a run: its input, and the output of each step that
    has succeeded (``steps`` maps ids to their :class:`~saga.state.StepState`)."""
    return {
        "input": run_input,
        "steps": {
            sid: {"output": step.output}
            for sid, step in steps.items()
            if step.status == "succeeded"
        },
    }


_STRING = re.compile(r"""r?('''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.S)
_PATH = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)(\s*\()?")


def references(text: str) -> list[tuple[str, ...]]:
    """The names an expression reads, as paths: ``("input", "amount")``,
    ``("steps", "reserve", "output", "id")``. Function calls, macros' own variables
    and string literals are not references; the parts after a call are not followed."""
    bare = _STRING.sub('""', text)
    found: list[tuple[str, ...]] = []
    for match in _PATH.finditer(bare):
        root, rest, call = match.groups()
        parts = (root, *(p.strip() for p in rest.split(".") if p.strip()))
        if call:  # a function or a method: x.exists(...) reads x
            parts = parts[:-1]
        if parts and parts[0] in ROOTS:
            found.append(parts)
    return list(dict.fromkeys(found))
