// Turning the document into React Flow nodes and edges. Node and data objects
// are reused while nothing about them changed, so a change to one step
// re-renders one node, not three hundred.
import { MarkerType, Position, type Edge, type NodeHandle } from "@xyflow/react";
import { useMemo, useRef } from "react";
import type { Simulation, ValidationResult } from "../types";
import {
  cycleEdges,
  NODE_HEIGHT,
  NODE_WIDTH,
  nodeIds,
  uncovered,
  type Doc,
  type StepIssues,
  type Zone,
} from "./model";
import type { SimMark, StepFlowNode, StepNodeData } from "./StepNode";

const NO_ISSUES: StepIssues = { errors: [], warnings: [] };
const HANDLE = 11;
// Every box has the same size, so React Flow never has to measure one.
const SIZE = { width: NODE_WIDTH, height: NODE_HEIGHT };

/**
 * Where the two handles sit on every box (left middle, right middle). Known up
 * front, edges are drawn in the first render instead of after React Flow has
 * measured three hundred boxes.
 */
export const STEP_HANDLES: NodeHandle[] = [
  { type: "target", position: Position.Left, x: -HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
  { type: "source", position: Position.Right, x: NODE_WIDTH - HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
];

function sameData(a: StepNodeData, b: StepNodeData): boolean {
  return (
    a.step === b.step &&
    a.zone === b.zone &&
    a.uncovered === b.uncovered &&
    a.errors === b.errors &&
    a.warnings === b.warnings &&
    a.diff === b.diff &&
    a.readOnly === b.readOnly &&
    a.sim?.status === b.sim?.status &&
    a.sim?.compensation === b.sim?.compensation &&
    a.sim?.failed === b.sim?.failed
  );
}

export function simMarks(sim: Simulation | null): Map<string, SimMark> {
  const marks = new Map<string, SimMark>();
  if (!sim) return marks;
  for (const [id, status] of Object.entries(sim.steps)) {
    const order = sim.compensation_order.indexOf(id);
    marks.set(id, { status, compensation: order < 0 ? null : order + 1, failed: id === sim.fail_step });
  }
  return marks;
}

interface Input {
  doc: Doc;
  zoneMap: Map<string, Zone>;
  issueMap: Map<string, StepIssues>;
  result: ValidationResult | null;
  sim: Simulation | null;
  selection: ReadonlySet<string>;
  edgeSelection: ReadonlySet<string>;
  readOnly: boolean;
}

export function useCanvasElements(input: Input): { nodes: StepFlowNode[]; edges: Edge[] } {
  const { doc, zoneMap, issueMap, result, sim, selection, edgeSelection, readOnly } = input;
  const cache = useRef(new Map<string, StepFlowNode>());
  const marks = useMemo(() => simMarks(sim), [sim]);
  const ids = useMemo(() => nodeIds(doc.spec), [doc.spec]);

  const nodes = useMemo(() => {
    const next = new Map<string, StepFlowNode>();
    const list = doc.spec.steps.map((step, i) => {
      const id = ids[i];
      const zone = zoneMap.get(step.id) ?? "compensable";
      const issues = issueMap.get(id) ?? NO_ISSUES;
      const data: StepNodeData = {
        step,
        zone,
        uncovered: uncovered(step, zone),
        errors: issues.errors,
        warnings: issues.warnings,
        sim: marks.get(step.id) ?? null,
        diff: null,
        readOnly,
      };
      const position = doc.layout[step.id] ?? { x: 0, y: i * (NODE_HEIGHT + 24) };
      const selected = selection.has(id);
      const old = cache.current.get(id);
      const node: StepFlowNode =
        old &&
        old.position.x === position.x &&
        old.position.y === position.y &&
        old.selected === selected &&
        sameData(old.data, data)
          ? old
          : {
              id,
              type: "step",
              position,
              data: old && sameData(old.data, data) ? old.data : data,
              selected,
              width: NODE_WIDTH,
              height: NODE_HEIGHT,
              handles: STEP_HANDLES,
              measured: SIZE,
              ariaLabel: `${step.type} step ${step.id}`,
            };
      next.set(id, node);
      return node;
    });
    cache.current = next;
    return list;
  }, [doc, ids, zoneMap, issueMap, marks, selection, readOnly]);

  const edges = useMemo(() => {
    const byStepId = new Map<string, string>();
    doc.spec.steps.forEach((s, i) => {
      if (!byStepId.has(s.id)) byStepId.set(s.id, ids[i]);
    });
    const ring = cycleEdges(result);
    const onPath = new Set(sim?.path ?? []);
    const list: Edge[] = [];
    doc.spec.steps.forEach((step, i) => {
      const target = ids[i];
      for (const before of step.after ?? []) {
        const source = byStepId.get(before);
        if (!source) continue;
        const id = `${source}->${target}`;
        const inCycle = ring.has(`${before}->${step.id}`);
        const walked = onPath.has(before) && onPath.has(step.id);
        const className = inCycle ? "edge-cycle" : walked ? "edge-path" : sim ? "edge-idle" : "";
        const colour = inCycle ? "#c23a3a" : walked ? "#1d8a4e" : "#94a3b8";
        list.push({
          id,
          source,
          target,
          className,
          selected: edgeSelection.has(id),
          animated: inCycle,
          markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: colour },
        });
      }
    });
    return list;
  }, [doc.spec, ids, result, sim, edgeSelection]);

  return { nodes, edges };
}
