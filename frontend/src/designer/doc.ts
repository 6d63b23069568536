// Pure functions on the document the designer edits: a spec and its layout (graph/
// model.ts's Doc). Every edit returns new objects and leaves the old ones alone, so
// undo is a matter of keeping the old ones.
import { cleanLayout, nodeIds, type Doc } from "../graph/model";
import { typeLabel } from "../graph/spec";
import { FORMAT, STEP_ID_PATTERN, type Activity, type AnyStep, type Group, type Layout, type Position, type Spec, type StepType, type Workflow } from "../types";

export type { Doc } from "../graph/model";

export function emptySpec(): Spec {
  return { format: FORMAT, steps: [] };
}

// --- creating steps ----------------------------------------------------------------------

export function uniqueId(taken: Iterable<string>, base: string): string {
  const used = new Set(taken);
  const stem = base.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z]+/, "") || "step";
  if (!used.has(stem)) return stem.slice(0, 64);
  for (let n = 2; ; n++) {
    const candidate = `${stem.slice(0, 60)}_${n}`;
    if (!used.has(candidate)) return candidate;
  }
}

/** The activity a new task step (or a map's iteration) calls: the no-op when registered. */
export function defaultActivity(activities: Activity[]): string {
  return activities.find((a) => a.name === "demo.noop")?.name ?? activities[0]?.name ?? "";
}

/** The workflows a child saga may run: those with a published version, but this one. */
export function childWorkflows(workflows: readonly Workflow[] | null, self: string): Workflow[] {
  return (workflows ?? []).filter((w) => w.published_version !== null && w.slug !== self);
}

export function newStep(
  type: StepType,
  taken: Iterable<string>,
  activities: Activity[],
  groups: Group[],
  /** The workflows the user may see, and the one being edited: a child saga runs another. */
  workflows: readonly Workflow[] | null = null,
  self = "",
): AnyStep {
  const id = uniqueId(taken, type);
  const step: AnyStep = { id, name: `New ${typeLabel(type).toLowerCase()}`, type, after: [] };
  switch (type) {
    case "http":
      step.action = { method: "POST", url: "" };
      break;
    case "task":
      step.action = { name: defaultActivity(activities) };
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
    case "map":
      step.items = "input.items";
      step.do = { type: "task", action: { name: defaultActivity(activities) } };
      break;
    case "subsaga":
      // Empty when no other workflow is published: the validator then says so under the field.
      step.action = { workflow: childWorkflows(workflows, self)[0]?.slug ?? "", input: {} };
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

// --- optional steps ------------------------------------------------------------------------

/**
 * Whether the step at ``index`` is optional: it has steps before and after it, and each
 * step after it also runs after every step before it, so that a branch beside it goes
 * round it. Skipped by its condition, the steps after it then still run.
 */
export function isOptional(steps: readonly AnyStep[], index: number): boolean {
  const step = steps[index];
  const before = step.after ?? [];
  const next = steps.filter((s) => (s.after ?? []).includes(step.id));
  return before.length > 0 && next.length > 0 && next.every((s) => before.every((b) => (s.after ?? []).includes(b)));
}

/**
 * Makes the step at ``index`` optional, or not: each step after it is made to run also
 * after the steps before it (``reserve -> gate -> lines`` plus ``reserve -> lines``), or
 * no longer.
 */
export function setOptional(doc: Doc, index: number, on: boolean): Doc {
  const step = doc.spec.steps[index];
  const before = step.after ?? [];
  const steps = doc.spec.steps.map((s) => {
    const after = s.after ?? [];
    if (!after.includes(step.id)) return s;
    const next = on ? [...after, ...before.filter((b) => !after.includes(b))] : after.filter((a) => !before.includes(a));
    return next.length === after.length && next.every((a, i) => a === after[i]) ? s : { ...s, after: next };
  });
  return { ...doc, spec: { ...doc.spec, steps } };
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

// --- comparing ---------------------------------------------------------------------------------

export function specKey(spec: Spec): string {
  return JSON.stringify(spec);
}

export function layoutKey(doc: Doc): string {
  return JSON.stringify(cleanLayout(doc));
}
