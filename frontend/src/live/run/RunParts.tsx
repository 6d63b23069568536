// The run page's smaller parts: the act buttons, what a stuck run allows in words, the
// stuck tile in the page head, and an approval step's group and instructions.
import type { ReactNode } from "react";
import { duration, Time } from "../../common/time";
import { Clamped } from "../common";
import type { RunAct, RunBody, StepAct, StepRow } from "../types";
import type { ActTarget } from "./ActDialog";
import { orList, stuckActs } from "./model";

const ACT_LABELS: Record<StepAct | RunAct, string> = {
  retry: "Retry",
  skip: "Skip",
  approve: "Approve",
  reject: "Reject",
  compensate: "Compensate",
  cancel: "Cancel run",
};

/** A button for one act; it opens the dialog that asks the reason. */
export function ActButton({ target, className, ask }: { target: ActTarget; className: string; ask: (target: ActTarget) => void }) {
  return (
    <button type="button" className={className} data-act={target.act} data-step={target.step ?? undefined} onClick={() => ask(target)}>
      {ACT_LABELS[target.act]}…
    </button>
  );
}

/** A step's acts, under its name in the steps table: the first column, so that they
 * stay on screen however wide the error beside them, or however narrow the screen. */
export function StepActs({ step, acts, ask }: { step: StepRow; acts: StepAct[]; ask: (target: ActTarget) => void }) {
  // An approval's decision is asked for above, beside its instructions.
  const shown = acts.filter((act) => !(step.status === "waiting" && (act === "approve" || act === "reject")));
  if (!shown.length) return null;
  return (
    <span className="act-buttons step-acts">
      {shown.map((act) => (
        <ActButton
          key={act}
          target={{ act, step: step.id }}
          className={`btn btn-small${act === "retry" || act === "approve" ? " btn-primary" : ""}`}
          ask={ask}
        />
      ))}
    </span>
  );
}

/** What the user may do about a stuck run, in words: only the acts the server offers now,
 * which are the buttons on the page, so the two never disagree. */
export function StuckActs({ run, step, compensation }: { run: RunBody; step: string | null; compensation: boolean }) {
  const acts = stuckActs(run, step);
  if (!acts.step.length && !acts.run.length) {
    return <span data-stuck-acts="">An operator of this workflow must act on it; you may not.</span>;
  }
  const parts: ReactNode[] = [];
  if (acts.step.length) {
    parts.push(
      <span key="step">
        {orList(acts.step)} {compensation ? "the compensation of step" : "step"} <code>{step}</code>
      </span>,
    );
  }
  if (acts.run.length) parts.push(<span key="run">{orList(acts.run)} the run</span>);
  return (
    <span data-stuck-acts={[...acts.step, ...acts.run].join(" ")}>
      You may {parts[0]}
      {parts[1] ? <>, or {parts[1]}</> : null}.
    </span>
  );
}

/** A stuck run's tile in the page head: since when, for how long, and where it is
 * stuck (a step, a step's compensation, or nowhere: no progress before its deadline). */
export function StuckTile({ run, step, now }: { run: RunBody; step: StepRow | undefined; now: number }) {
  const since = run.stuck_since;
  return (
    <div className="stat stat-wide stat-stuck" data-testid="run-stuck">
      <span className="stat-label">Stuck since</span>
      <span className="stat-value">
        <Time iso={since} />
      </span>
      <span className="small">
        {since ? `for ${duration(now - Date.parse(since))}, ` : ""}
        {step ? (
          <>
            {step.status === "failed" ? "at step" : "at the compensation of step"}{" "}
            <strong>{step.name || step.id}</strong>
            {step.name && step.name !== step.id ? <> <code>{step.id}</code></> : null}
          </>
        ) : (
          "no progress before its deadline"
        )}
      </span>
    </div>
  );
}

/** An approval step's group and instructions, in its row of the steps table. */
export function StepGate({ gate }: { gate: { group: string; instructions: string } | null }) {
  if (!gate) return null;
  return (
    <div className="step-gate small">
      <span className="muted">group</span> <strong>{gate.group || "—"}</strong>
      {gate.instructions && <Clamped className="gate-instructions" text={gate.instructions} />}
    </div>
  );
}
