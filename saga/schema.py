"""The JSON Schema of ``sagaboard/v1`` specs: the shape common to every step, and each
kind's action from its module.

``SCHEMA`` is what validation checks a spec's shape against; the same document
is written to ``saga/sagaboard-v1.schema.json`` (``manage.py sagaboard
generate``) for the front end and for anyone who checks specs elsewhere. The
graph rules (ids, cycles, pivots, templates, activities) are
:mod:`saga.rules`' and no schema's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saga.search import MAX_ATTRIBUTES, NAME_PATTERN
from saga.steps import KINDS
from saga.steps.base import kind_rule

__all__ = ["SCHEMA", "SCHEMA_PATH", "schema_text"]

SCHEMA_PATH = Path(__file__).parent / "sagaboard-v1.schema.json"

_MAX_SECONDS = 2678400  # 31 days

_SHARED_DEFS: dict[str, Any] = {
    "duration": {
        "description": "Seconds, more than 0 and at most 31 days.",
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": _MAX_SECONDS,
    },
    "retry": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
            "initial_delay_s": {"type": "number", "minimum": 0, "maximum": _MAX_SECONDS},
            "backoff": {"type": "number", "minimum": 1, "maximum": 10},
            "max_delay_s": {"type": "number", "minimum": 0, "maximum": _MAX_SECONDS},
            "jitter": {"enum": ["full", "equal", "none"]},
        },
    },
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
    "url": {"type": "string", "maxLength": 2048, "pattern": "^(?:https?://|\\{\\{)"},
    "headers": {
        "type": "object",
        "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
        "additionalProperties": {"type": "string"},
    },
    "http_action": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method", "url"],
        "properties": {
            "method": {"$ref": "#/$defs/method"},
            "url": {"$ref": "#/$defs/url"},
            "headers": {"$ref": "#/$defs/headers"},
            "body": True,
        },
    },
}


def _step_def() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "type"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$"},
            "name": {"type": "string", "maxLength": 200},
            "description": {"type": "string"},
            "type": {"enum": list(KINDS)},
            "after": {
                "type": "array",
                "uniqueItems": True,
                "maxItems": 1000,
                "items": {"type": "string"},
                "default": [],
            },
            "action": {"type": "object"},
            "compensation": {"type": "object"},
            "timeout_s": {"$ref": "#/$defs/duration"},
            "retry": {"$ref": "#/$defs/retry"},
            "pivot": {"type": "boolean"},
            "when": {"type": "string", "minLength": 1, "maxLength": 2000},
            **{name: rule for kind in KINDS.values() for name, rule in kind.own_fields.items()},
        },
        "allOf": [kind_rule(kind, KINDS.values()) for kind in KINDS.values()],
    }


def _schema() -> dict[str, Any]:
    defs = dict(_SHARED_DEFS)
    for kind in KINDS.values():
        defs.update(kind.schema_defs)
    defs["step"] = _step_def()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:sagaboard:schema:sagaboard-v1",
        "title": "Sagaboard workflow definition (sagaboard/v1)",
        "description": "The shape of a version's spec. Graph rules (unknown or duplicate ids, "
        "cycles, pivots, templates, activities) are checked by saga.rules on top of this "
        "schema.",
        "type": "object",
        "required": ["format", "steps"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": "sagaboard/v1"},
            "description": {"type": "string"},
            "input_schema": {
                "description": "A JSON Schema (draft 2020-12 unless it says otherwise with "
                "$schema) that a run's input must satisfy.",
                "type": "object",
            },
            "defaults": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "timeout_s": {"$ref": "#/$defs/duration"},
                    "retry": {"$ref": "#/$defs/retry"},
                },
            },
            "deadline_s": {
                "description": "A run making no progress for longer than this is stuck.",
                "$ref": "#/$defs/duration",
            },
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "search": {
                "description": "Search attributes: values a run is found by (GET "
                "/api/runs/?attr.<name>=), each a template over the input ({{ input.x }}) "
                "evaluated when the run starts.",
                "type": "object",
                "maxProperties": MAX_ATTRIBUTES,
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 2000},
            },
            "output": {
                "description": "The run's output once it completes: any JSON, with templates "
                "({{ input.x }}, {{ steps.<id>.output.y }}, {{ run.id }})."
            },
        },
        "$defs": defs,
    }


SCHEMA: dict[str, Any] = _schema()


def schema_text() -> str:
    """The schema as the file holds it."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
