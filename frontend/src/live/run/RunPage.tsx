// One run, live: its status and acts in the page head; the graph, the steps, the
// timeline, the event log and the run's data below. Events from /ws/runs/<id>/
// move the statuses on at once; a read of the run from the API, at most a few
// times a second, brings outputs, attempts and the acts allowed now.
import { useRef, useState } from "react";
import { request } from "../../api";
import {
  ConnectionBadge,
  ConnectionBanner,
  duration,
  JsonBlock,
  latency,
  Slot,
  StatusBadge,
  Time,
  useNow,
  useThrottled,
} from "../common";
import { useLiveSocket } from "../socket";
import { TERMINAL, type RunAct, type RunBody, type RunPageConfig, type StepAct, type StreamEvent } from "../types";
import { ActDialog, type ActRequest } from "./ActDialog";
import { EventLog } from "./EventLog";
import { applyBody, applyEventData, applyEvents, context, hold, type Held } from "./model";
import { RunGraph } from "./RunGraph";
import { Timeline } from "./Timeline";

const ACT_LABELS: Record<StepAct | RunAct, string> = {
  retry: "Retry",
  skip: "Skip",
  approve: "Approve",
  reject: "Reject",
  compensate: "Compensate",
  cancel: "Cancel run",
};

export function RunPage({ config }: { config: RunPageConfig }) {
  const [held, setHeld] = useState<Held>(() => hold(config.run, config.events));
  const [asked, setAsked] = useState<ActRequest | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const { run } = held;
  const current = useRef(held);
  current.current = held;
  // The first act whose reason the page has yet to read from the API (the page's
  // first events came with theirs).
  const needData = useRef<number | null>(null);
  const live = !TERMINAL.has(run.status);
  const now = useNow(live ? 1000 : 0);
  const base = `${config.api}runs/${run.id}/`;

  const refresh = useThrottled(() => {
    request<RunBody>("GET", base)
      .then((body) => {
        setHeld((h) => applyBody(h, body));
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(err instanceof Error ? err.message : String(err)));
    // Acts' reasons are in the log's data, which the stream leaves out.
    const from = needData.current;
    needData.current = null;
    if (from !== null) {
      request<StreamEvent[]>("GET", `${base}events/?after=${from - 1}`)
        .then((logged) => setHeld((later) => applyEventData(later, logged)))
        .catch(() => undefined);
    }
  }, 300);

  const status = useLiveSocket(config.ws, {
    query: () => ({ after: String(current.current.lastSeq) }),
    onEvents: (events) => {
      for (const event of events) {
        if (event.event.startsWith("act.") && (needData.current === null || event.seq < needData.current)) {
          needData.current = event.seq;
        }
      }
      setHeld((h) => applyEvents(h, events));
      refresh();
    },
    onReconnect: refresh,
  });

  const started = Date.parse(run.created_at);
  const ended = run.finished_at ? Date.parse(run.finished_at) : now;
  const done = run.steps.filter((s) => s.status === "succeeded" || s.status === "skipped").length;
  const stuckStep = run.steps.find((s) => s.status === "failed" || s.status === "compensation_failed");

  return (
    <div className="run-page" data-run-status={run.status}>
      <Slot id="run-head-actions">
        <ConnectionBadge status={status} />
        {run.acts.run.map((act) => (
          <button
            key={act}
            type="button"
            className="btn btn-danger"
            data-act={act}
            onClick={() => setAsked({ act, step: null })}
          >
            {ACT_LABELS[act]}…
          </button>
        ))}
      </Slot>
      <ConnectionBanner status={status} />
      {problem && <p className="alert alert-error">The run could not be read again: {problem}</p>}

      <div className="stats">
        <div className="stat">
          <span className="stat-label">Status</span>
          <span className="stat-value" data-testid="run-status">
            <StatusBadge status={run.status} />
          </span>
        </div>
        <div className="stat">
          <span className="stat-label">Version</span>
          <span className="stat-value"><a href={config.urls.version}>v{run.version}</a></span>
        </div>
        <div className="stat">
          <span className="stat-label">Started by</span>
          <span className="stat-value">{run.started_by ?? <span className="muted">—</span>}</span>
        </div>
        <div className="stat">
          <span className="stat-label">Started</span>
          <span className="stat-value"><Time iso={run.created_at} /></span>
        </div>
        <div className="stat">
          <span className="stat-label">{run.finished_at ? "Took" : "Running for"}</span>
          <span className="stat-value">{duration(ended - started)}</span>
        </div>
        <div className="stat">
          <span className="stat-label">Steps done</span>
          <span className="stat-value">{done} / {run.steps.length}</span>
        </div>
      </div>

      {run.status === "stuck" && (
        <div className="alert alert-error stuck-alert" role="status">
          <strong>Stuck{run.stuck_since ? ` for ${duration(now - Date.parse(run.stuck_since))}` : ""}.</strong>{" "}
          {stuckStep ? (
            <>
              Step <code>{stuckStep.id}</code> {stuckStep.status === "failed" ? "failed" : "failed to compensate"} for good
              {stuckStep.error ? <>: <span className="error-text">{stuckStep.error}</span></> : "."}
            </>
          ) : (
            "It made no progress before its deadline."
          )}{" "}
          An operator may retry or skip the step, or compensate or cancel the run.
        </div>
      )}

      <section className="card card-flush">
        <div className="card-head">
          <h2>Graph</h2>
          <ul className="status-legend" aria-label="Colours">
            {["pending", "running", "waiting", "retrying", "succeeded", "failed", "compensating", "compensated"].map((s) => (
              <li key={s}><span className={`swatch st-${s}`} /> {s}</li>
            ))}
          </ul>
        </div>
        <RunGraph api={config.api} spec={config.spec} layout={config.layout} steps={run.steps} selected={selected} onSelect={setSelected} />
      </section>

      <section className="card card-flush">
        <div className="card-head"><h2>Steps</h2></div>
        <table className="table steps-table">
          <thead>
            <tr>
              <th>Step</th>
              <th>Status</th>
              <th className="num">Attempts</th>
              <th className="num">Latency</th>
              <th>Started</th>
              <th>Finished</th>
              <th>Error</th>
              <th className="row-actions" />
            </tr>
          </thead>
          <tbody>
            {run.steps.map((step) => (
              <tr key={step.id} data-step={step.id} data-status={step.status} className={selected === step.id ? "is-selected" : undefined}>
                <td>
                  <span className="strong">{step.name || step.id}</span> <code>{step.id}</code>{" "}
                  <span className={`type type-${step.type}`}>{step.type}</span>
                </td>
                <td><StatusBadge status={step.status} /></td>
                <td className="num">
                  {step.attempts}
                  {step.compensation_attempts ? <span className="muted"> · {step.compensation_attempts} comp.</span> : null}
                </td>
                <td className="num">{latency(step.latency_ms)}</td>
                <td className="nowrap"><Time iso={step.started_at} /></td>
                <td className="nowrap"><Time iso={step.finished_at} /></td>
                <td className="clip error-text">{step.error || ""}</td>
                <td className="row-actions">
                  <span className="act-buttons">
                    {(run.acts.steps[step.id] ?? []).map((act) => (
                      <button
                        key={act}
                        type="button"
                        className={`btn btn-small${act === "retry" || act === "approve" ? " btn-primary" : ""}`}
                        data-act={act}
                        data-step={step.id}
                        onClick={() => setAsked({ act, step: step.id })}
                      >
                        {ACT_LABELS[act]}…
                      </button>
                    ))}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section className="card">
        <div className="card-head">
          <h2>Timeline</h2>
          <span className="muted">every attempt, wait and compensation</span>
        </div>
        <Timeline events={held.events} steps={run.steps} live={live} />
      </section>

      <section className="card card-flush">
        <div className="card-head">
          <h2>Event log</h2>
          <span className="muted">{held.events.length} events, oldest first</span>
        </div>
        <EventLog events={held.events} />
      </section>

      <div className="run-data">
        <section className="card">
          <h2>Input</h2>
          <JsonBlock value={run.input} empty="No input." />
        </section>
        <section className="card">
          <h2>Context</h2>
          <p className="muted small">
            What the steps' templates see: <code>input</code>, each step's <code>output</code>, <code>run.id</code>.
          </p>
          <JsonBlock value={context(run)} />
        </section>
        <section className="card">
          <h2>Outputs</h2>
          {run.steps.some((s) => s.output !== null) ? (
            <dl className="outputs">
              {run.steps
                .filter((s) => s.output !== null)
                .map((s) => (
                  <div key={s.id} data-step={s.id}>
                    <dt><code>{s.id}</code></dt>
                    <dd><JsonBlock value={s.output} /></dd>
                  </div>
                ))}
            </dl>
          ) : (
            <p className="muted">No step has an output yet.</p>
          )}
        </section>
      </div>

      <ActDialog
        api={config.api}
        run={run.id}
        request={asked}
        onDone={(body) => setHeld((h) => applyBody(h, body))}
        onClose={() => setAsked(null)}
      />
    </div>
  );
}
