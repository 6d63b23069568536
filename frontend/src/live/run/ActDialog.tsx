// The dialog of an operator act: what it does, the reason asked for, and the
// server's answer when it refuses (the run may have moved on meanwhile).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, client, ok } from "../../common/client";
import type { Json } from "../../types";
import { JsonBlock } from "../common";
import type { RunAct, RunBody, StepAct } from "../types";
import { asRunBody } from "./model";

/** An act on a step of the run (or on one iteration of a map step), or on the run. */
export type ActTarget = { act: StepAct; step: string; index?: number } | { act: RunAct; step: null; index?: undefined };

export type ActRequest = ActTarget & {
  /** The step's name, as its definition says (the id when it has none). */
  name?: string;
  /** An approval gate's group and instructions, for whoever decides it. */
  gate?: Gate | null;
  /** The run's input, beside a gate's decision: what its instructions ask to check. */
  input?: Json;
};

export interface Gate {
  group: string;
  instructions: string;
}

/** What the server keeps of a reason or comment (engine/services.py refuses more). */
export const MAX_REASON = 2000;

const WORDS: Record<StepAct | RunAct, { title: string; help: string; button: string; danger?: boolean }> = {
  retry: {
    title: "Retry step",
    help: "The step gets a fresh round of its retry policy, starting now.",
    button: "Retry",
  },
  skip: {
    title: "Skip step",
    help: "The step is recorded as skipped, without running, and the steps after it go on.",
    button: "Skip",
    danger: true,
  },
  approve: { title: "Approve", help: "The approval succeeds and the run goes on.", button: "Approve" },
  reject: {
    title: "Reject",
    help: "The approval fails for good; the run compensates or is stuck, as its definition says.",
    button: "Reject",
    danger: true,
  },
  compensate: {
    title: "Compensate the run",
    help: "Every succeeded step is compensated, in reverse order, and the run ends compensated.",
    button: "Compensate",
    danger: true,
  },
  cancel: {
    title: "Cancel the run",
    help: "The run stops where it stands. Nothing is compensated.",
    button: "Cancel run",
    danger: true,
  },
};

function isDecision(act: StepAct | RunAct): boolean {
  return act === "approve" || act === "reject";
}

/** The act, with the reason (or an approver's comment) given; the run as it is then. */
async function send(run_id: string, asked: ActRequest, text: string): Promise<RunBody> {
  if (asked.step === null) {
    return asRunBody(await ok(client.POST(`/api/runs/{run_id}/${asked.act}/`, { params: { path: { run_id } }, body: { reason: text } })));
  }
  if (asked.index !== undefined && (asked.act === "retry" || asked.act === "skip")) {
    const path = { run_id, step: asked.step, index: asked.index };
    const url = `/api/runs/{run_id}/steps/{step}/iterations/{index}/${asked.act}/` as const;
    return asRunBody(await ok(client.POST(url, { params: { path }, body: { reason: text } })));
  }
  const path = { run_id, step: asked.step };
  const body = isDecision(asked.act) ? { comment: text } : { reason: text };
  return asRunBody(await ok(client.POST(`/api/runs/{run_id}/steps/{step}/${asked.act}/`, { params: { path }, body })));
}

interface Props {
  run: string;
  request: ActRequest | null;
  onDone: (run: RunBody) => void;
  onClose: () => void;
}

export function ActDialog({ run, request: asked, onDone, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    if (asked && !el.open) {
      setText("");
      setError(null);
      el.showModal();
    } else if (!asked && el.open) {
      el.close();
    }
  }, [asked]);

  const decision = asked ? isDecision(asked.act) : false;
  const words = asked ? WORDS[asked.act] : null;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!asked) return;
    setBusy(true);
    setError(null);
    send(run, asked, text)
      .then((result) => {
        onDone(result);
        onClose();
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError) {
          const fields = err.errors.map((e) => e.message).filter(Boolean);
          setError(fields.length ? `${err.message} (${fields.join("; ")})` : err.message);
        } else {
          setError(String(err));
        }
      })
      .finally(() => setBusy(false));
  };

  return (
    <dialog ref={dialog} className="act-dialog" onClose={onClose} aria-labelledby="act-title" data-act={asked?.act ?? ""}>
      {asked && words && (
        <form method="dialog" onSubmit={submit}>
          <h2 id="act-title">
            {words.title}
            {asked.step && <> {asked.name || asked.step}</>}
            {asked.index !== undefined && <>, iteration {asked.index}</>}
          </h2>
          {asked.step && asked.name && asked.name !== asked.step && (
            <p className="act-step muted">
              step <code>{asked.step}</code>
            </p>
          )}
          {asked.gate && <GateNote gate={asked.gate} />}
          {decision && asked.input !== undefined && <RunInput input={asked.input} />}
          <p className="muted">{words.help} It is recorded in the run's log with your name.</p>
          <label htmlFor="act-reason">{decision ? "Comment (optional)" : "Reason"}</label>
          <textarea
            id="act-reason"
            name="reason"
            rows={3}
            maxLength={MAX_REASON}
            required={!decision}
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder={decision ? "What the requester should know" : "Why, for whoever reads the log later"}
            aria-describedby="act-reason-left"
            autoFocus
          />
          <p
            id="act-reason-left"
            className={`reason-left${MAX_REASON - text.length <= 100 ? " is-low" : ""}`}
            data-left={MAX_REASON - text.length}
            aria-live={MAX_REASON - text.length <= 100 ? "polite" : "off"}
          >
            {charactersLeft(MAX_REASON - text.length)}
          </p>
          {error && <p className="alert alert-error act-error" role="alert">{error}</p>}
          <div className="actions dialog-actions">
            <button type="button" className="btn" onClick={onClose} disabled={busy}>
              Back
            </button>
            <button type="submit" className={`btn ${words.danger ? "btn-danger-solid" : "btn-primary"}`} disabled={busy}>
              {busy ? "Sending…" : words.button}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

function charactersLeft(left: number): string {
  return `${left.toLocaleString("en")} character${left === 1 ? "" : "s"} left`;
}

/** The run's input, for whoever decides a gate: what its instructions ask them to check
 * (an amount, an order) is there, not on another part of the page. */
export function RunInput({ input }: { input: Json }) {
  return (
    <div className="gate-input" data-gate-input="">
      <p className="gate-input-label">The run's input</p>
      <JsonBlock value={input} label="The run's input" empty="The run has no input." />
    </div>
  );
}

/** An approval gate's instructions and who may decide it, as its definition says. */
export function GateNote({ gate }: { gate: Gate }) {
  return (
    <div className="gate-note" data-gate-group={gate.group}>
      <p className="gate-group">
        Decided by the group <strong>{gate.group || "—"}</strong>
      </p>
      {gate.instructions ? (
        <p className="gate-instructions">{gate.instructions}</p>
      ) : (
        <p className="gate-instructions muted">The definition gives no instructions.</p>
      )}
    </div>
  );
}
