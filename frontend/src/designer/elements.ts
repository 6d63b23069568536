// Turning the document into React Flow nodes and edges. Node and data objects
// are reused while nothing about them changed, so a change to one step
// re-renders one node, not three hundred.
import type { Edge } from "@xyflow/react";
import { useMemo, useRef } from "react";
import { edgeKey, nodeIds, uncovered, type Doc, type Zone } from "../graph/model";
import { arrow, EDGE_COLOURS, NODE_HEIGHT, STEP_BOX } from "../graph/nodes";
import type { SimMark, StepFlowNode, StepNodeData } from "../graph/StepNode";
import type { Position, Simulation, Spec, ValidationResult } from "../types";
import { cycleEdges, type StepIssues } from "./issues";

const NO_ISSUES: StepIssues = { errors: [], warnings: [] };

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
    a.sim?.failed === b.sim?.failed &&
    a.sim?.notTaken === b.sim?.notTaken &&
    a.sim?.iterations === b.sim?.iterations
  );
}

export function simMarks(sim: Simulation | null): Map<string, SimMark> {
  const marks = new Map<string, SimMark>();
  if (!sim) return marks;
  const notTaken = new Set(sim.not_taken);
  for (const [id, status] of Object.entries(sim.steps)) {
    const order = sim.compensation_order.indexOf(id);
    marks.set(id, {
      status,
      compensation: order < 0 ? null : order + 1,
      failed: id === sim.fail_step,
      notTaken: notTaken.has(id),
      iterations: sim.iterations[id] ?? null,
    });
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

/** The node of a step, the one of the last render when nothing about it changed. */
function stepNode(id: string, data: StepNodeData, position: Position, selected: boolean, old: StepFlowNode | undefined): StepFlowNode {
  const same = old !== undefined && sameData(old.data, data);
  if (same && old.position.x === position.x && old.position.y === position.y && old.selected === selected) return old;
  return {
    id,
    type: "step",
    position,
    data: same ? old.data : data,
    selected,
    ...STEP_BOX,
    ariaLabel: `${data.step.type} step ${data.step.id}`,
  };
}

/** The edges between the boxes: those of a cycle the validator names, those on the
 * simulated run's path, those into a step its condition left out, and the rest (dimmed
 * while a simulation is shown). An edge into a step with a condition is dashed. */
function stepEdges(spec: Spec, ids: string[], result: ValidationResult | null, sim: Simulation | null, edgeSelection: ReadonlySet<string>): Edge[] {
  const byStepId = new Map<string, string>();
  spec.steps.forEach((s, i) => {
    if (!byStepId.has(s.id)) byStepId.set(s.id, ids[i]);
  });
  const ring = cycleEdges(result);
  const onPath = new Set(sim?.path ?? []);
  const notTaken = new Set(sim?.not_taken ?? []);
  const list: Edge[] = [];
  spec.steps.forEach((step, i) => {
    const target = ids[i];
    for (const before of step.after ?? []) {
      const source = byStepId.get(before);
      if (!source) continue;
      const id = edgeKey(source, target);
      const inCycle = ring.has(edgeKey(before, step.id));
      const walked = onPath.has(before) && onPath.has(step.id);
      const state = inCycle ? "edge-cycle" : walked ? "edge-path" : notTaken.has(step.id) ? "edge-not-taken" : sim ? "edge-idle" : "";
      const className = step.when ? `${state} edge-conditional`.trim() : state;
      const colour = inCycle ? EDGE_COLOURS.bad : walked ? EDGE_COLOURS.good : EDGE_COLOURS.plain;
      list.push({
        id,
        source,
        target,
        className,
        selected: edgeSelection.has(id),
        animated: inCycle,
        markerEnd: arrow(colour),
      });
    }
  });
  return list;
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
      const node = stepNode(id, data, position, selection.has(id), cache.current.get(id));
      next.set(id, node);
      return node;
    });
    cache.current = next;
    return list;
  }, [doc, ids, zoneMap, issueMap, marks, selection, readOnly]);

  // Of the spec alone: dragging a box leaves the edges as they are.
  const edges = useMemo(() => stepEdges(doc.spec, ids, result, sim, edgeSelection), [doc.spec, ids, result, sim, edgeSelection]);

  return { nodes, edges };
}
