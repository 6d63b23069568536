"""Spec text, JSON or YAML, read into plain data with the line and column of any problem.

YAML is read with PyYAML's safe loader only, refusing duplicate keys and
keeping dates as the text the author wrote.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

__all__ = ["SpecParseError", "parse_spec_text"]


class SpecParseError(ValueError):
    """Spec text that is neither valid JSON nor valid YAML; the message gives the position."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and keeping dates as text."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        # A repeated key would silently drop half of a step; merge keys (<<) may
        # legitimately be overridden, so only explicit keys are compared.
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return, arg-type]


# A date is not JSON; keep `2024-01-01` as the string the author wrote.
_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_spec_text(text: str) -> object:
    """Parse spec text: JSON when it starts with ``{`` or ``[``, YAML otherwise.

    YAML is read with PyYAML's safe loader only. Raises ``SpecParseError``
    with the line and column of the problem.
    """
    if not isinstance(text, str):
        raise SpecParseError(f"spec text must be a string, not {type(text).__name__}")
    body = text.removeprefix("\ufeff")
    if not body.strip():
        raise SpecParseError("the spec is empty")
    if body.lstrip()[:1] in ("{", "["):
        return _parse_json(body)
    return _parse_yaml(body)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecParseError(f"invalid JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _parse_json(body: str) -> object:
    try:
        return json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise SpecParseError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except SpecParseError:
        raise
    except RecursionError:
        raise SpecParseError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise SpecParseError(f"invalid JSON: {exc}") from None


def _parse_yaml(body: str) -> object:
    try:
        # _SpecLoader is a yaml.SafeLoader: it builds plain data only, as safe_load does.
        return yaml.load(body, Loader=_SpecLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        if mark is None:
            raise SpecParseError(f"invalid YAML: {problem}") from None
        raise SpecParseError(
            f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}",
            line=mark.line + 1,
            column=mark.column + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecParseError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise SpecParseError("invalid YAML: nested too deeply") from None
    except ValueError as exc:
        raise SpecParseError(f"invalid YAML: {exc}") from None
