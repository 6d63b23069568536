// Pure functions on the document the designer edits: a spec and its layout.
// Every edit returns new objects and leaves the old ones alone, so undo is a
// matter of keeping the old ones.
import {
  COMPENSABLE,
  FORMAT,
  STEP_ID_PATTERN,
  type Activity,
  type AnyStep,
  type Group,
  type Issue,
  type JsonObject,
  type Layout,
  type Position,
  type Spec,
  type StepType,
  type ValidationResult,
} from "../types";

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 78;

export interface Doc {
  spec: Spec;
  layout: Layout;
}

export function emptySpec(): Spec {
  return { format: FORMAT, steps: [] };
}

/** Reads whatever the server or a file gave as a spec the editor can hold. */
export function asSpec(value: unknown): Spec {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("A spec is a JSON object with a list of steps.");
  }
  const raw = value as Record<string, unknown>;
  const steps = raw.steps === undefined ? [] : raw.steps;
  if (!Array.isArray(steps) || steps.some((s) => !s || typeof s !== "object" || Array.isArray(s))) {
    throw new Error("The spec's steps must be a list of objects.");
  }
  return { ...(raw as object), format: (raw.format as typeof FORMAT) ?? FORMAT, steps } as Spec;
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

// --- creating steps ----------------------------------------------------------------------

const TYPE_LABELS: Record<StepType, string> = {
  http: "HTTP call",
  task: "Task",
  approval: "Approval",
  delay: "Delay",
  callback: "Callback",
};

export function typeLabel(type: StepType): string {
  return TYPE_LABELS[type] ?? type;
}

export function uniqueId(taken: Iterable<string>, base: string): string {
  const used = new Set(taken);
  const stem = base.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z]+/, "") || "step";
  if (!used.has(stem)) return stem.slice(0, 64);
  for (let n = 2; ; n++) {
    const candidate = `${stem.slice(0, 60)}_${n}`;
    if (!used.has(candidate)) return candidate;
  }
}

export function newStep(
  type: StepType,
  taken: Iterable<string>,
  activities: Activity[],
  groups: Group[],
): AnyStep {
  const id = uniqueId(taken, type);
  const step: AnyStep = { id, name: `New ${typeLabel(type).toLowerCase()}`, type, after: [] };
  switch (type) {
    case "http":
      step.action = { method: "POST", url: "" };
      break;
    case "task":
      step.action = {
        name: activities.find((a) => a.name === "demo.noop")?.name ?? activities[0]?.name ?? "",
      };
      break;
    case "approval":
      step.action = { group: groups[0]?.name ?? "", on_timeout: "reject" };
      break;
    case "delay":
      step.action = { seconds: 60 };
      break;
    case "callback":
      step.action = {};
      break;
  }
  return step;
}

// --- edits --------------------------------------------------------------------------------

export function replaceStep(doc: Doc, index: number, step: AnyStep): Doc {
  const steps = doc.spec.steps.slice();
  steps[index] = step;
  return { ...doc, spec: { ...doc.spec, steps } };
}

export function addSteps(doc: Doc, steps: AnyStep[], positions: Layout): Doc {
  return {
    spec: { ...doc.spec, steps: [...doc.spec.steps, ...steps] },
    layout: { ...doc.layout, ...positions },
  };
}

/** Removes steps (by node id) and edges (as [source, target] node ids) in one change. */
export function removeElements(doc: Doc, nodes: string[], edges: [string, string][]): Doc {
  const ids = nodeIds(doc.spec);
  const gone = new Set(nodes);
  const goneIds = new Set(
    doc.spec.steps.filter((_, i) => gone.has(ids[i])).map((s) => s.id),
  );
  const cut = new Map<string, Set<string>>();
  for (const [source, target] of edges) {
    const sourceIndex = ids.indexOf(source);
    if (sourceIndex < 0) continue;
    const set = cut.get(target) ?? new Set<string>();
    set.add(doc.spec.steps[sourceIndex].id);
    cut.set(target, set);
  }
  const steps: AnyStep[] = [];
  doc.spec.steps.forEach((step, i) => {
    if (gone.has(ids[i])) return;
    const drop = cut.get(ids[i]);
    const after = step.after ?? [];
    const kept = after.filter((a) => !goneIds.has(a) && !drop?.has(a));
    steps.push(kept.length === after.length ? step : { ...step, after: kept });
  });
  const layout = { ...doc.layout };
  for (const id of goneIds) {
    if (!steps.some((s) => s.id === id)) delete layout[id];
  }
  return { spec: { ...doc.spec, steps }, layout };
}

export function connect(doc: Doc, source: string, target: string): Doc {
  const ids = nodeIds(doc.spec);
  const si = ids.indexOf(source);
  const ti = ids.indexOf(target);
  if (si < 0 || ti < 0) return doc;
  const sourceId = doc.spec.steps[si].id;
  const step = doc.spec.steps[ti];
  const after = step.after ?? [];
  if (after.includes(sourceId)) return doc;
  return replaceStep(doc, ti, { ...step, after: [...after, sourceId] });
}

/** Gives a step a new id; the other steps' `after` and the layout follow. */
export function renameStep(doc: Doc, index: number, newId: string): Doc {
  const oldId = doc.spec.steps[index].id;
  const steps = doc.spec.steps.map((step, i) => {
    const renamed = i === index ? { ...step, id: newId } : step;
    const after = renamed.after ?? [];
    return after.includes(oldId)
      ? { ...renamed, after: after.map((a) => (a === oldId ? newId : a)) }
      : renamed;
  });
  const layout = { ...doc.layout };
  if (layout[oldId]) {
    layout[newId] = layout[oldId];
    delete layout[oldId];
  }
  return { spec: { ...doc.spec, steps }, layout };
}

export function idProblem(spec: Spec, index: number, id: string): string | null {
  if (!STEP_ID_PATTERN.test(id)) {
    return "Start with a letter; letters, digits, '_' and '-' only; at most 64 characters.";
  }
  if (spec.steps.some((s, i) => i !== index && s.id === id)) return `Step ${id} exists already.`;
  return null;
}

// --- copy and paste -------------------------------------------------------------------------

export interface Clip {
  steps: AnyStep[];
  positions: Layout;
}

export function copySteps(doc: Doc, nodes: string[]): Clip | null {
  const ids = nodeIds(doc.spec);
  const chosen = doc.spec.steps.filter((_, i) => nodes.includes(ids[i]));
  if (!chosen.length) return null;
  const inside = new Set(chosen.map((s) => s.id));
  const positions: Layout = {};
  for (const step of chosen) if (doc.layout[step.id]) positions[step.id] = doc.layout[step.id];
  // Edges to steps left behind are dropped: a pasted group hangs free until connected.
  const steps = chosen.map((s) => ({ ...structuredClone(s), after: (s.after ?? []).filter((a) => inside.has(a)) }));
  return { steps, positions };
}

/** Pastes a clip with fresh ids, offset from where it was copied; returns the new node ids. */
export function pasteClip(doc: Doc, clip: Clip, offset: Position): { doc: Doc; ids: string[] } {
  const taken = new Set(doc.spec.steps.map((s) => s.id));
  const renames = new Map<string, string>();
  for (const step of clip.steps) {
    const id = uniqueId(taken, `${step.id}_copy`);
    taken.add(id);
    renames.set(step.id, id);
  }
  const steps = clip.steps.map((step) => ({
    ...structuredClone(step),
    id: renames.get(step.id) ?? step.id,
    after: (step.after ?? []).map((a) => renames.get(a) ?? a),
  }));
  const positions: Layout = {};
  clip.steps.forEach((step, i) => {
    const at = clip.positions[step.id] ?? { x: i * 30, y: i * 30 };
    positions[steps[i].id] = { x: at.x + offset.x, y: at.y + offset.y };
  });
  return { doc: addSteps(doc, steps, positions), ids: steps.map((s) => s.id) };
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

/** A step whose effect a later failure could not undo: compensable zone, no compensation. */
export function uncovered(step: AnyStep, zone: Zone | undefined): boolean {
  return zone === "compensable" && COMPENSABLE[step.type] === true && !step.compensation;
}

// --- issues ---------------------------------------------------------------------------------------

export interface StepIssues {
  errors: Issue[];
  warnings: Issue[];
}

/** The validator's issues by node id; those about the whole spec under "". */
export function issuesByNode(spec: Spec, result: ValidationResult | null): Map<string, StepIssues> {
  const map = new Map<string, StepIssues>();
  if (!result) return map;
  const ids = nodeIds(spec);
  const firstIndex = new Map<string, number>();
  spec.steps.forEach((s, i) => {
    if (!firstIndex.has(s.id)) firstIndex.set(s.id, i);
  });
  const nodeFor = (step: string | null): string => {
    if (step === null) return "";
    const positional = /^steps\[(\d+)\]$/.exec(step);
    if (positional) return ids[Number(positional[1])] ?? "";
    const i = firstIndex.get(step);
    return i === undefined ? "" : ids[i];
  };
  const put = (issue: Issue, kind: keyof StepIssues) => {
    const key = nodeFor(issue.step);
    const entry = map.get(key) ?? { errors: [], warnings: [] };
    entry[kind].push(issue);
    map.set(key, entry);
  };
  result.errors.forEach((i) => put(i, "errors"));
  result.warnings.forEach((i) => put(i, "warnings"));
  return map;
}

/** The steps named by the validator's cycle errors, as source -> target edge keys. */
export function cycleEdges(result: ValidationResult | null): Set<string> {
  const edges = new Set<string>();
  for (const issue of result?.errors ?? []) {
    const match = /^cycle: (.+)$/.exec(issue.message);
    if (!match) continue;
    const ring = match[1].split(" -> ");
    // The validator writes a -> b meaning b runs after a.
    for (let i = 0; i + 1 < ring.length; i++) edges.add(`${ring[i + 1]}->${ring[i]}`);
    for (let i = 0; i + 1 < ring.length; i++) edges.add(`${ring[i]}->${ring[i + 1]}`);
  }
  return edges;
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

/** The rectangle the boxes cover, or null when there are none. */
export function layoutBounds(doc: Doc): { x: number; y: number; width: number; height: number } | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const step of doc.spec.steps) {
    const at = doc.layout[step.id];
    if (!at) continue;
    minX = Math.min(minX, at.x);
    minY = Math.min(minY, at.y);
    maxX = Math.max(maxX, at.x + NODE_WIDTH);
    maxY = Math.max(maxY, at.y + NODE_HEIGHT);
  }
  return minX === Infinity ? null : { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

export function missingPositions(doc: Doc): boolean {
  return doc.spec.steps.some((s) => !doc.layout[s.id]);
}

/** Only the positions of steps that exist: what gets saved. */
export function cleanLayout(doc: Doc): Layout {
  const layout: Layout = {};
  for (const step of doc.spec.steps) {
    const at = doc.layout[step.id];
    if (at) layout[step.id] = { x: Math.round(at.x), y: Math.round(at.y) };
  }
  return layout;
}

// --- reading a step ---------------------------------------------------------------------------------

function shortUrl(url: unknown): string {
  if (typeof url !== "string" || !url) return "no URL yet";
  return url.replace(/^https?:\/\//, "");
}

function duration(seconds: unknown): string {
  if (typeof seconds !== "number") return "?";
  if (seconds >= 86400 && seconds % 3600 === 0) return `${seconds / 86400} d`;
  if (seconds >= 3600 && seconds % 60 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 1 === 0 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function stepSummary(step: AnyStep): string {
  const action: JsonObject = step.action ?? {};
  switch (step.type) {
    case "http":
      return `${String(action.method ?? "?")} ${shortUrl(action.url)}`;
    case "task":
      return String(action.name || "no activity yet");
    case "approval":
      return action.group ? `group ${String(action.group)}` : "no group yet";
    case "delay":
      return `wait ${duration(action.seconds)}`;
    case "callback":
      return action.url
        ? `${String(action.method ?? "POST")} ${shortUrl(action.url)}, then wait`
        : "waits for a callback";
    default:
      return "";
  }
}

export function specKey(spec: Spec): string {
  return JSON.stringify(spec);
}

export function layoutKey(doc: Doc): string {
  return JSON.stringify(cleanLayout(doc));
}
