"""Versions drawn by graphviz: one version, or the diff of two with the changes coloured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import graphviz

from designer.diff import spec_diff
from saga.graph import spec_graph, spec_steps
from saga.steps import KINDS

PLAIN = {"fillcolor": "#ffffff", "color": "#64748b", "fontcolor": "#0f172a"}
ADDED = {"fillcolor": "#dcfce7", "color": "#16a34a", "fontcolor": "#14532d"}
REMOVED = {
    "fillcolor": "#fee2e2",
    "color": "#dc2626",
    "fontcolor": "#7f1d1d",
    "style": "rounded,filled,dashed",
}
CHANGED = {"fillcolor": "#fef3c7", "color": "#d97706", "fontcolor": "#78350f"}
PIVOT_EXTRA = {"peripheries": "2", "penwidth": "1.6"}


def _graph() -> graphviz.Digraph:
    graph = graphviz.Digraph(format="svg")
    graph.attr(rankdir="LR", bgcolor="transparent", nodesep="0.35", ranksep="0.5", pad="0.2")
    graph.attr(
        "node",
        shape="box",
        style="rounded,filled",
        fontname="Helvetica",
        fontsize="11",
        margin="0.15,0.08",
    )
    graph.attr("edge", color="#94a3b8", arrowsize="0.7")
    return graph


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _runs(step: Mapping[str, Any]) -> str | None:
    """What a map runs for each item, or which workflow a child saga runs, in a line."""
    if step.get("type") == "map":
        items = step.get("items")
        shown = _short(items.strip()) if isinstance(items, str) and items.strip() else "?"
        inner = _mapping(step.get("do"))
        kind = str(inner.get("type") or "?")
        action = _mapping(inner.get("action"))
        target = {"task": action.get("name"), "subsaga": action.get("workflow")}.get(
            kind, action.get("url")
        )
        does = f"{kind} {_short(target, 48)}" if isinstance(target, str) and target else kind
        return f"for each {shown}: {does}"
    if step.get("type") == "subsaga":
        workflow = _mapping(step.get("action")).get("workflow")
        return f"runs {workflow}" if isinstance(workflow, str) and workflow else "runs ?"
    return None


def _label(step: Mapping[str, Any]) -> str:
    name = str(step.get("name") or step.get("id"))
    found = KINDS.get(str(step.get("type")))
    kind = found.label if found else str(step.get("type"))
    marks = []
    if step.get("pivot"):
        marks.append("pivot")
    if step.get("compensation"):
        marks.append("↩ compensates")
    lines = [name, f"{step.get('id')} · {kind}"]
    runs = _runs(step)
    if runs:
        lines.append(runs)
    when = step.get("when")
    if isinstance(when, str) and when:
        lines.append(f"if {_short(when)}")
    if marks:
        lines.append(" · ".join(marks))
    # Each line's backslashes are literal (escape), and so is the whole (nohtml): joined,
    # a label starting with '<' and ending with '>' (a name, then "for each
    # input.lines.filter(l, l.qty > 0)") would be read as graphviz's HTML-like label,
    # whose markup breaks the picture or is drawn as markup.
    return graphviz.nohtml("\n".join(graphviz.escape(line) for line in lines))


def _node_id(step_id: str) -> str:
    # Node names are quoted by the graphviz package; prefix them so an id never
    # collides with a graphviz keyword such as "node" or "edge".
    return f"s_{step_id}"


def _steps(spec: Any) -> list[Mapping[str, Any]]:
    return list(spec_steps(spec).values())


def _add_step(graph: graphviz.Digraph, step: Mapping[str, Any], colours: dict[str, str]) -> None:
    attrs = dict(colours)
    if step.get("pivot"):
        attrs.update(PIVOT_EXTRA)
    graph.node(_node_id(step["id"]), _label(step), tooltip=graphviz.escape(step["id"]), **attrs)


def _edges(spec: Any) -> set[tuple[str, str]]:
    return {(before, sid) for sid, preds in spec_graph(spec).preds.items() for before in preds}


def render_version_svg(spec: Any) -> bytes:
    """The version's steps and their `after` edges as SVG."""
    graph = _graph()
    steps = _steps(spec)
    for step in steps:
        _add_step(graph, step, PLAIN)
    for sid, preds in spec_graph(spec).preds.items():
        for before in preds:
            graph.edge(_node_id(before), _node_id(sid))
    return graph.pipe(format="svg")


def render_diff_svg(old: Any, new: Any) -> bytes:
    """Both versions in one picture: added steps green, removed red, changed amber."""
    diff = spec_diff(old, new)
    added, removed = set(diff["added"]), set(diff["removed"])
    changed = {c["step"] for c in diff["changed"]}
    graph = _graph()
    old_steps, new_steps = _steps(old), _steps(new)
    for step in new_steps:
        sid = step["id"]
        colours = ADDED if sid in added else CHANGED if sid in changed else PLAIN
        _add_step(graph, step, colours)
    for step in old_steps:
        if step["id"] in removed:
            _add_step(graph, step, REMOVED)
    old_edges = _edges(old)
    new_edges = _edges(new)
    for before, after in sorted(new_edges | old_edges):
        if (before, after) in new_edges and (before, after) in old_edges:
            graph.edge(_node_id(before), _node_id(after))
        elif (before, after) in new_edges:
            graph.edge(_node_id(before), _node_id(after), color="#16a34a", penwidth="1.5")
        else:
            graph.edge(_node_id(before), _node_id(after), color="#dc2626", style="dashed")
    return graph.pipe(format="svg")
