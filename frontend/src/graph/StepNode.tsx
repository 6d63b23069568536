// One step on the designer's and the review page's canvas: a card with its type
// badge, name, id and what it does, marked for compensation coverage, validation
// issues, simulation and diff.
import { Handle, Position, useStore, type Node, type NodeProps, type ReactFlowState } from "@xyflow/react";
import { createContext, memo, useContext } from "react";
import type { AnyStep, Issue, StepStatus } from "../types";
import type { Zone } from "./model";
import { NODE_HEIGHT, NODE_WIDTH } from "./nodes";
import { mapInner, stepSummary, typeBadge } from "./spec";

/** The names of the workflows the user may see, by slug: a child saga's box names the
 * workflow it runs. Pages that do not know them leave it empty. */
export const WorkflowNames = createContext<ReadonlyMap<string, string>>(new Map());

/** The workflow a child saga runs, when it names one. */
function childSlug(step: AnyStep): string | null {
  const slug = step.type === "subsaga" ? step.action?.workflow : null;
  return typeof slug === "string" && slug ? slug : null;
}

export type DiffMark = "added" | "removed" | "changed" | "same";

export interface SimMark {
  status: StepStatus;
  /** 1-based place in the order compensations run, when this one runs. */
  compensation: number | null;
  failed: boolean;
  /** Skipped by its condition (or because every step before it was). */
  notTaken: boolean;
  /** A map's: how many iterations it runs. */
  iterations: number | null;
}

/** What the simulation says of a step on its box. */
export function simLabel(sim: SimMark): string {
  if (sim.notTaken) return "not taken";
  const label = SIM_LABELS[sim.status] ?? sim.status;
  return sim.iterations === null ? label : `${label} · ${sim.iterations} ${sim.iterations === 1 ? "iteration" : "iterations"}`;
}

export type StepNodeData = {
  step: AnyStep;
  zone: Zone;
  uncovered: boolean;
  errors: Issue[];
  warnings: Issue[];
  sim: SimMark | null;
  diff: DiffMark | null;
  readOnly: boolean;
};

export type StepFlowNode = Node<StepNodeData, "step">;

const SIM_LABELS: Partial<Record<StepStatus, string>> = {
  succeeded: "succeeded",
  failed: "fails",
  compensated: "compensated",
  compensation_failed: "compensation failed",
  pending: "not reached",
  skipped: "skipped",
  waiting: "waiting",
};

function classes(data: StepNodeData, selected: boolean): string {
  const list = ["step-node", `type-${data.step.type}`, `zone-${data.zone}`];
  if (selected) list.push("is-selected");
  if (data.uncovered) list.push("is-uncovered");
  if (data.errors.length) list.push("has-errors");
  else if (data.warnings.length) list.push("has-warnings");
  if (data.sim) list.push("sim", `sim-${data.sim.status}`);
  if (data.sim?.notTaken) list.push("sim-not-taken");
  if (data.step.when) list.push("has-condition");
  if (data.diff) list.push(`diff-${data.diff}`);
  return list.join(" ");
}

/**
 * Level of detail by zoom: 0 the whole card; 1 the name only, large enough to read
 * from afar; 2 a coloured box. A big workflow seen whole draws a fraction of the DOM.
 */
const detail = (s: ReactFlowState): 0 | 1 | 2 => (s.transform[2] < 0.18 ? 2 : s.transform[2] < 0.45 ? 1 : 0);

function StepNodeView({ data, selected }: NodeProps<StepFlowNode>) {
  const { step, errors, warnings, sim, diff } = data;
  const level = useStore(detail);
  const first = errors[0] ?? null;
  const inner = mapInner(step);
  const compensated = !!(step.compensation ?? step.do?.compensation);
  const names = useContext(WorkflowNames);
  const child = childSlug(step);
  const childName = child ? names.get(child) : undefined;
  if (level > 0) {
    return (
      <div
        className={`${classes(data, selected)} is-far${level === 2 ? " is-farthest" : ""}`}
        style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
        data-step={step.id}
        data-zone={data.zone}
        data-sim={sim?.status ?? undefined}
        data-taken={sim ? String(!sim.notTaken) : undefined}
        data-diff={diff ?? undefined}
        title={`${step.id}: ${step.name || step.type}`}
      >
        <Handle type="target" position={Position.Left} className="step-handle" isConnectable={!data.readOnly} />
        {level === 1 && <div className="step-far-name">{step.name || step.id}</div>}
        <Handle type="source" position={Position.Right} className="step-handle" isConnectable={!data.readOnly} />
      </div>
    );
  }
  return (
    <div
      className={classes(data, selected)}
      style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
      data-step={step.id}
      data-zone={data.zone}
      data-sim={sim?.status ?? undefined}
      data-taken={sim ? String(!sim.notTaken) : undefined}
      data-diff={diff ?? undefined}
    >
      <Handle type="target" position={Position.Left} className="step-handle" isConnectable={!data.readOnly} />
      <div className="step-head">
        <span className={`step-badge badge-type-${step.type}`}>{typeBadge(step.type)}</span>
        {step.pivot === true && <span className="step-flag flag-pivot" title="Pivot: once it succeeds, the run only moves forward">PIVOT</span>}
        {data.zone === "forward" && <span className="step-flag flag-forward" title="After the pivot: never compensated">forward only</span>}
        {step.when && (
          <span className="step-flag flag-when" title={`Runs only when ${step.when}`}>
            if {step.when}
          </span>
        )}
        {compensated && <span className="step-flag flag-comp" title="Has a compensation">↩ undo</span>}
        {data.uncovered && <span className="step-flag flag-uncovered" title="Before the pivot without a compensation: if a later step fails, its effect stays">no undo</span>}
        <span className="step-head-fill" />
        {errors.length > 0 && (
          <span className="step-count count-error" title={errors.map((e) => e.message).join("\n")}>
            {errors.length}
          </span>
        )}
        {warnings.length > 0 && (
          <span className="step-count count-warning" title={warnings.map((e) => e.message).join("\n")}>
            {warnings.length}
          </span>
        )}
      </div>
      <div className="step-name" title={step.name || step.id}>{step.name || step.id}</div>
      <div className="step-line">
        <code className="step-id">{step.id}</code>
        <span className="step-summary" title={stepSummary(step)}>{stepSummary(step)}</span>
      </div>
      {inner && (
        <div className="step-line step-do" title={`Each item: ${inner.type} ${inner.summary}`}>
          <span className={`step-badge step-do-badge badge-type-${inner.type}`}>{typeBadge(inner.type)}</span>
          <span className="step-summary">{inner.summary}</span>
        </div>
      )}
      {childName !== undefined && (
        <div className="step-line step-child" title={`Runs the published version of ${childName} (${child}) as a child run`}>
          <span className="step-child-mark" aria-hidden="true">↳</span>
          <span className="step-summary">{childName}</span>
        </div>
      )}
      {sim && (
        <div className="step-sim" title={`Simulated: ${sim.notTaken ? "not taken (condition false)" : sim.status}`} data-iterations={sim.iterations ?? undefined}>
          {sim.failed ? "✕ " : ""}
          {simLabel(sim)}
          {sim.compensation !== null && <span className="sim-order">↩ {sim.compensation}</span>}
        </div>
      )}
      {first && (
        <div className="step-issue" role="alert">
          {first.field ? <code>{first.field}</code> : null} {first.message}
          {errors.length > 1 ? <span className="more"> +{errors.length - 1} more</span> : null}
        </div>
      )}
      <Handle type="source" position={Position.Right} className="step-handle" isConnectable={!data.readOnly} />
    </div>
  );
}

export const StepNode = memo(StepNodeView);
export const nodeTypes = { step: StepNode };
