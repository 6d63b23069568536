// Reading a spec as the server or a file gives it, and a step as its box says it:
// its kind's label and badge (the kernel's, generated/vocabulary.ts) and what it does.
import { STEP_KINDS } from "../generated/vocabulary";
import { FORMAT, type AnyStep, type JsonObject, type Layout, type Spec, type StepType } from "../types";

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

/** Reads whatever the server gave as a layout (the API leaves its shape open): the
 * positions that have an x and a y. */
export function asLayout(value: unknown): Layout {
  const layout: Layout = {};
  if (!value || typeof value !== "object") return layout;
  for (const [id, at] of Object.entries(value as Record<string, unknown>)) {
    const { x, y } = (at ?? {}) as { x?: unknown; y?: unknown };
    if (typeof x === "number" && typeof y === "number") layout[id] = { x, y };
  }
  return layout;
}

// --- a step's kind ------------------------------------------------------------------------

const KINDS = new Map<string, (typeof STEP_KINDS)[number]>(STEP_KINDS.map((kind) => [kind.name, kind]));

/** How a step type is named in running text ("HTTP call", "task"), as the kernel says. */
export function typeLabel(type: StepType): string {
  return KINDS.get(type)?.title ?? type;
}

/** The name starting a line or a heading ("HTTP call", "Task"). */
export function typeTitle(type: StepType): string {
  const label = typeLabel(type);
  return label.charAt(0).toUpperCase() + label.slice(1);
}

/** The badge on a step's box ("HTTP", "TASK"). */
export function typeBadge(type: string): string {
  return (KINDS.get(type)?.label ?? type).toUpperCase();
}

/** What a step type does, in a line (the palette's hint). */
export function typeSummary(type: StepType): string {
  return KINDS.get(type)?.summary ?? "";
}

// --- what a step does ---------------------------------------------------------------------------

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
    case "map":
      return `for each ${step.items?.trim() || "?"}`;
    case "subsaga":
      return typeof action.workflow === "string" && action.workflow ? `runs ${action.workflow}` : "no workflow yet";
    default:
      return "";
  }
}

/** What a map's iteration does: its kind's badge and its activity or URL; null for other steps. */
export function mapInner(step: AnyStep): { type: StepType; summary: string } | null {
  if (step.type !== "map") return null;
  const inner = step.do;
  if (!inner || (inner.type as string) === "map") return { type: "task", summary: "no step yet" };
  return { type: inner.type, summary: stepSummary({ id: step.id, type: inner.type, action: inner.action }) };
}
