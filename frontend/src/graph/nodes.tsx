// What every canvas's boxes and edges have in common: one size for every box, its
// two handles, the arrow at an edge's end and the dotted grid behind.
import { Background, MarkerType, Position, type EdgeMarker, type NodeHandle } from "@xyflow/react";

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 78;
const HANDLE = 11;

/**
 * Where the two handles sit on every box (left middle, right middle). Known up
 * front, edges are drawn in the first render instead of after React Flow has
 * measured three hundred boxes.
 */
const STEP_HANDLES: NodeHandle[] = [
  { type: "target", position: Position.Left, x: -HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
  { type: "source", position: Position.Right, x: NODE_WIDTH - HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
];

const SIZE = { width: NODE_WIDTH, height: NODE_HEIGHT };

/** A box's size and handles, for a React Flow node: every box has the same, so React
 * Flow never has to measure one. */
export const STEP_BOX = { width: NODE_WIDTH, height: NODE_HEIGHT, handles: STEP_HANDLES, measured: SIZE } as const;

/** The edges' colours: an ordinary one, one on the path (or added), one in a cycle (or removed). */
export const EDGE_COLOURS = { plain: "#94a3b8", good: "#1d8a4e", bad: "#c23a3a" } as const;

/** The arrow at the end of an edge. */
export function arrow(color: string = EDGE_COLOURS.plain): EdgeMarker {
  return { type: MarkerType.ArrowClosed, width: 16, height: 16, color };
}

/** The dotted grid behind every canvas. */
export function Grid() {
  return <Background gap={20} size={1} color="#d9dde4" />;
}
