// Editing on the canvas: boxes dragged (one undo step per drag), edges drawn between
// handles, the selection deleted.
import type { Connection, Edge, NodeChange } from "@xyflow/react";
import { useCallback, useRef } from "react";
import { nodeIds } from "../../graph/model";
import type { Layout } from "../../types";
import { connect, removeElements, type Doc } from "../doc";
import type { DocumentState } from "./useDocument";
import type { SelectionState } from "./useSelection";

interface Input {
  edited: DocumentState;
  selection: SelectionState;
  readOnly: boolean;
  /** The edges on the canvas, to know which steps a selected edge joins. */
  edges: Edge[];
}

export function useCanvasEditing({ edited, selection, readOnly, edges }: Input) {
  const { docRef, commit, dispatch } = edited;
  const { onNodeChanges } = selection;
  const dragBase = useRef<Doc | null>(null);

  const onNodesChange = useCallback(
    (changes: NodeChange[]) => {
      onNodeChanges(changes);
      let layout: Layout | null = null;
      const ids = nodeIds(docRef.current.spec);
      for (const change of changes) {
        if (change.type !== "position" || !change.position) continue;
        const index = ids.indexOf(change.id);
        if (index < 0) continue;
        const moved: Layout = layout ?? { ...docRef.current.layout };
        moved[docRef.current.spec.steps[index].id] = change.position;
        layout = moved;
      }
      if (layout) dispatch({ type: "transient", doc: { ...docRef.current, layout } });
    },
    [dispatch, docRef, onNodeChanges],
  );

  // A drag moves the boxes without undo steps; its end makes the whole drag one.
  const onNodeDragStart = useCallback(() => {
    dragBase.current = docRef.current;
  }, [docRef]);
  const onNodeDragStop = useCallback(() => {
    if (dragBase.current) dispatch({ type: "record", base: dragBase.current });
    dragBase.current = null;
  }, [dispatch]);

  const onConnect = useCallback(
    (connection: Connection) => {
      if (readOnly || !connection.source || !connection.target) return;
      commit(connect(docRef.current, connection.source, connection.target));
    },
    [commit, docRef, readOnly],
  );

  const { selection: nodes, edgeSelection, select } = selection;
  const canDelete = !readOnly && (nodes.size > 0 || edgeSelection.size > 0);
  const deleteSelection = useCallback(() => {
    if (!canDelete) return;
    const edgePairs = edges
      .filter((e) => edgeSelection.has(e.id))
      .map((e) => [e.source, e.target] as [string, string]);
    commit(removeElements(docRef.current, [...nodes], edgePairs));
    select([]);
  }, [canDelete, commit, docRef, edgeSelection, edges, nodes, select]);

  return {
    onNodesChange,
    onEdgesChange: selection.onEdgeChanges,
    onNodeDragStart,
    onNodeDragStop,
    onConnect,
    canDelete,
    deleteSelection,
  };
}
