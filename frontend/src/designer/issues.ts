// The validator's answer as the canvas and the side panel show it: issues by box,
// and the edges of the cycles it names.
import { nodeIds } from "../graph/model";
import type { Issue, Spec, ValidationResult } from "../types";

export interface StepIssues {
  errors: Issue[];
  warnings: Issue[];
}

/** A validator issue, tagged with whether it refuses the spec or only warns. */
export type PanelIssue = Issue & { kind: "error" | "warning" };

/** Issues in one list, each tagged with its kind: errors first. */
export function tagged(issues: StepIssues | null | undefined): PanelIssue[] {
  if (!issues) return [];
  return [
    ...issues.errors.map((i): PanelIssue => ({ ...i, kind: "error" })),
    ...issues.warnings.map((i): PanelIssue => ({ ...i, kind: "warning" })),
  ];
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
