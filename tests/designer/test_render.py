"""The graphviz pictures of a version: what a map and a child saga say on their box, and
user-typed text drawn as text, whatever characters it holds."""

from __future__ import annotations

import html
import re
from typing import Any

from designer.render import render_diff_svg, render_version_svg

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "lines",
            "name": "Reserve each line",
            "type": "map",
            "items": "input.lines",
            "do": {"type": "task", "action": {"name": "demo.inventory.reserve"}},
        },
        {
            "id": "notify",
            "type": "map",
            "after": ["lines"],
            "items": "steps.lines.output",
            "do": {"type": "http", "action": {"method": "POST", "url": "http://mail.local/x"}},
        },
        {
            "id": "pay",
            "name": "Pay",
            "type": "subsaga",
            "after": ["notify"],
            "action": {"workflow": "payment", "input": {"amount": "{{ input.amount }}"}},
        },
    ],
}


def texts(svg: bytes) -> list[str]:
    """The lines of text drawn, as a reader sees them."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg.decode())]


def test_a_map_says_what_it_runs_for_each_item_and_a_child_saga_which_workflow() -> None:
    drawn = texts(render_version_svg(SPEC))
    assert "for each input.lines: task demo.inventory.reserve" in drawn
    assert "for each steps.lines.output: http http://mail.local/x" in drawn
    assert "runs payment" in drawn
    assert "pay · saga" in drawn


def test_a_half_written_map_or_child_saga_is_drawn_with_what_it_lacks() -> None:
    spec = {
        "format": "sagaboard/v1",
        "steps": [
            {"id": "m", "type": "map", "items": " ", "do": "nonsense"},
            {"id": "c", "type": "subsaga", "action": {"workflow": ""}},
        ],
    }
    drawn = texts(render_version_svg(spec))
    assert "for each ?: ?" in drawn
    assert "runs ?" in drawn


def test_markup_and_backslashes_in_typed_fields_are_drawn_as_text() -> None:
    # A name that opens with '<' and a half-typed condition that closes with '>' would,
    # joined, read as graphviz's HTML-like label: the picture broke, or showed markup.
    items = 'input.lines.filter(l, l.note == "</text><script>") > 0'
    spec = {
        "format": "sagaboard/v1",
        "steps": [
            {
                "id": "lines",
                "name": "<b>Reserve</b> {each|line} \\l <",
                "type": "map",
                "items": items,
                "when": "input.amount >",
                "do": {"type": "task", "action": {"name": 'x"><script>alert(2)</script>'}},
            },
            {
                "id": "pay",
                "type": "subsaga",
                "action": {"workflow": "<img src=x onerror=alert(3)>"},
            },
        ],
    }
    for svg in (render_version_svg(spec), render_diff_svg({"steps": []}, spec)):
        assert b"<script" not in svg and b"<b>" not in svg and b"<img" not in svg
        drawn = texts(svg)
        assert "<b>Reserve</b> {each|line} \\l <" in drawn
        assert (
            'for each input.lines.filter(l, l.note == "</text…: task x"><script>alert(2)</script>'
            in drawn
        )
        assert "runs <img src=x onerror=alert(3)>" in drawn
        assert "if input.amount >" in drawn
