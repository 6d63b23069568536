// Which boxes and which edges are selected, as React Flow reports clicks on them.
import type { EdgeChange, NodeChange } from "@xyflow/react";
import { useCallback, useState } from "react";

function toggled(prev: ReadonlySet<string>, changes: [string, boolean][]): ReadonlySet<string> {
  const next = new Set(prev);
  for (const [id, on] of changes) {
    if (on) next.add(id);
    else next.delete(id);
  }
  return next;
}

export function useSelection() {
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [edgeSelection, setEdgeSelection] = useState<ReadonlySet<string>>(new Set());

  /** These boxes selected (none: nothing), and no edge. */
  const select = useCallback((nodes: string[]) => {
    setSelection(new Set(nodes));
    setEdgeSelection(new Set());
  }, []);

  const onNodeChanges = useCallback((changes: NodeChange[]) => {
    const selected: [string, boolean][] = [];
    for (const change of changes) if (change.type === "select") selected.push([change.id, change.selected]);
    if (selected.length) setSelection((prev) => toggled(prev, selected));
  }, []);

  const onEdgeChanges = useCallback((changes: EdgeChange[]) => {
    const selected: [string, boolean][] = [];
    for (const change of changes) if (change.type === "select") selected.push([change.id, change.selected]);
    if (selected.length) setEdgeSelection((prev) => toggled(prev, selected));
  }, []);

  return { selection, edgeSelection, setSelection, select, onNodeChanges, onEdgeChanges };
}

export type SelectionState = ReturnType<typeof useSelection>;
