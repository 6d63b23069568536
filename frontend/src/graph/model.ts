// The graph of a spec, as every canvas reads it (the designer, the review page's
// diff, the run page): which box is which step, the edges, where steps stand with
// respect to the pivot, the cycles, a first layout by depth and the boxes' bounds.
import { COMPENSABLE, type AnyStep, type Layout, type Position, type Spec } from "../types";
import { NODE_HEIGHT, NODE_WIDTH } from "./nodes";

/** A spec with where its steps sit: what a canvas draws. */
export interface Doc {
  spec: Spec;
  layout: Layout;
}

// --- node identity ---------------------------------------------------------------------

/**
 * The canvas node id of each step: its step id, unless that is missing or used
 * twice (an imported spec may be so), then its position.
 */
export function nodeIds(spec: Spec): string[] {
  const seen = new Set<string>();
  return spec.steps.map((step, i) => {
    const id = typeof step.id === "string" && step.id ? step.id : "";
    if (!id || seen.has(id) || id.startsWith("steps[")) return `steps[${i}]`;
    seen.add(id);
    return id;
  });
}

export function indexOfNode(spec: Spec, nodeId: string): number {
  return nodeIds(spec).indexOf(nodeId);
}

// --- edges ----------------------------------------------------------------------------------

/** The ``after`` edges between step ids, source (runs first) to target, in step order. */
export function dependencies(spec: Pick<Spec, "steps">): { source: string; target: string }[] {
  return spec.steps.flatMap((step) => (step.after ?? []).map((before) => ({ source: before, target: step.id })));
}

/** The key of an edge, as the canvases name theirs: "source->target". */
export function edgeKey(source: string, target: string): string {
  return `${source}->${target}`;
}

// --- compensation coverage ---------------------------------------------------------------------

/**
 * Where a step stands with respect to the pivot: before it (a later failure
 * compensates it), the pivot itself, or after one (the run only moves forward).
 */
export type Zone = "compensable" | "pivot" | "forward";

/** The steps that lie on a cycle (strongly connected components of more than one step). */
export function stepsInCycles(spec: Spec): Set<string> {
  const byId = new Map(spec.steps.map((s) => [s.id, s]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found = new Set<string>();
  let counter = 0;
  // Tarjan's algorithm over the `after` edges; depth is bounded by the step limit.
  const visit = (id: string) => {
    index.set(id, counter);
    low.set(id, counter);
    counter += 1;
    stack.push(id);
    onStack.add(id);
    for (const parent of byId.get(id)?.after ?? []) {
      if (!byId.has(parent) || parent === id) continue;
      if (!index.has(parent)) {
        visit(parent);
        low.set(id, Math.min(low.get(id) ?? 0, low.get(parent) ?? 0));
      } else if (onStack.has(parent)) {
        low.set(id, Math.min(low.get(id) ?? 0, index.get(parent) ?? 0));
      }
    }
    if (low.get(id) === index.get(id)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== id);
      if (component.length > 1) component.forEach((m) => found.add(m));
    }
  };
  for (const step of spec.steps) if (!index.has(step.id)) visit(step.id);
  return found;
}

export function zones(spec: Spec): Map<string, Zone> {
  const byId = new Map(spec.steps.map((s) => [s.id, s]));
  // As the validator does: a step on a cycle is judged by its own pivot flag alone.
  const cyclic = stepsInCycles(spec);
  const memo = new Map<string, boolean>();
  // Whether a pivot is among the ancestors of `id`; a cycle counts as no pivot.
  const pivotAbove = (id: string, stack: Set<string>): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    if (stack.has(id)) return false;
    stack.add(id);
    let found = false;
    for (const parent of byId.get(id)?.after ?? []) {
      const p = byId.get(parent);
      if (!p) continue;
      if (p.pivot === true || pivotAbove(parent, stack)) {
        found = true;
        break;
      }
    }
    stack.delete(id);
    memo.set(id, found);
    return found;
  };
  const result = new Map<string, Zone>();
  for (const step of spec.steps) {
    const after = !cyclic.has(step.id) && pivotAbove(step.id, new Set());
    result.set(step.id, step.pivot === true ? "pivot" : after ? "forward" : "compensable");
  }
  return result;
}

/** A step whose effect a later failure could not undo: compensable zone, no compensation
 * (for a map, its iteration's). */
export function uncovered(step: AnyStep, zone: Zone | undefined): boolean {
  if (zone !== "compensable") return false;
  if (step.type === "map") return !!step.do && COMPENSABLE[step.do.type] === true && !step.do.compensation;
  return COMPENSABLE[step.type] === true && !step.compensation;
}

// --- positions --------------------------------------------------------------------------------------

/** Left-to-right layers by depth: where steps sit until the server's layout arrives. */
export function layeredLayout(spec: Spec): Layout {
  const byId = new Map(spec.steps.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const visit = (id: string, stack: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (stack.has(id)) return 0;
    stack.add(id);
    let d = 0;
    for (const parent of byId.get(id)?.after ?? []) {
      if (byId.has(parent)) d = Math.max(d, visit(parent, stack) + 1);
    }
    stack.delete(id);
    depth.set(id, d);
    return d;
  };
  const rows = new Map<number, number>();
  const layout: Layout = {};
  for (const step of spec.steps) {
    const d = visit(step.id, new Set());
    const row = rows.get(d) ?? 0;
    rows.set(d, row + 1);
    layout[step.id] = { x: d * (NODE_WIDTH + 60), y: row * (NODE_HEIGHT + 30) };
  }
  return layout;
}

export interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rectangle boxes at these positions cover, or null when there are none. */
export function boundsOf(positions: Iterable<Position>): Bounds | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const at of positions) {
    minX = Math.min(minX, at.x);
    minY = Math.min(minY, at.y);
    maxX = Math.max(maxX, at.x + NODE_WIDTH);
    maxY = Math.max(maxY, at.y + NODE_HEIGHT);
  }
  return minX === Infinity ? null : { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

/** The rectangle the boxes of a document cover, or null when there are none. */
export function layoutBounds(doc: Doc): Bounds | null {
  return boundsOf(doc.spec.steps.flatMap((step) => (doc.layout[step.id] ? [doc.layout[step.id]] : [])));
}

export function missingPositions(doc: Doc): boolean {
  return doc.spec.steps.some((s) => !doc.layout[s.id]);
}

/** Only the positions of steps that exist, rounded: what gets saved. */
export function cleanLayout(doc: Doc): Layout {
  const layout: Layout = {};
  for (const step of doc.spec.steps) {
    const at = doc.layout[step.id];
    if (at) layout[step.id] = { x: Math.round(at.x), y: Math.round(at.y) };
  }
  return layout;
}
