// One run, live: its status and acts in the page head; the graph, the steps, the
// timeline, the event log and the run's data below. Events from /ws/runs/<id>/
// move the statuses on at once; a read of the run from the API, at most a few
// times a second, brings outputs, attempts and the acts allowed now.
import { Fragment, useRef, useState } from "react";
import { client, messageOf, ok } from "../../common/client";
import { duration, latency, Time, useNow } from "../../common/time";
import { statusWord } from "../../common/words";
import { TERMINAL } from "../../generated/vocabulary";
import type { StepStatus } from "../../types";
import { Clamped, ConnectionBadge, ConnectionBanner, JsonBlock, shortId, Slot, StatusBadge, useThrottled } from "../common";
import { useLiveSocket } from "../socket";
import type { RunPageConfig } from "../types";
import { ActDialog, GateNote, RunInput, type ActRequest, type ActTarget } from "./ActDialog";
import { EventLog } from "./EventLog";
import { IterationList, MapBar, progressWords } from "./Iterations";
import {
  applyBody,
  applyEvents,
  applyProgress,
  asRunBody,
  context,
  gateOf,
  hold,
  notTaken,
  stepTally,
  stepWord,
  type Held,
} from "./model";
import { RunGraph } from "./RunGraph";
import { ActButton, StepActs, StepGate, StuckActs, StuckTile } from "./RunParts";
import { SearchTile } from "./SearchTile";
import { Timeline } from "./Timeline";

/** The least time between two reads of an open list of iterations while its map moves. */
const LIST_MS = 1000;

/** The graph's colours, in the legend's order. */
const LEGEND: readonly StepStatus[] = ["pending", "running", "waiting", "retrying", "succeeded", "failed", "compensating", "compensated"];

export function RunPage({ config }: { config: RunPageConfig }) {
  const [held, setHeld] = useState<Held>(() => hold(config.run, config.events, config.events_through));
  const [opened, setOpened] = useState<string | null>(null);
  const [asked, setAsked] = useState<ActRequest | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const { run } = held;
  const current = useRef(held);
  current.current = held;
  const live = !TERMINAL.has(run.status);
  const now = useNow(live ? 1000 : 0);

  const refresh = useThrottled(() => {
    ok(client.GET("/api/runs/{run_id}/", { params: { path: { run_id: run.id } } }))
      .then((body) => {
        setHeld((h) => applyBody(h, asRunBody(body)));
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(messageOf(err)));
  }, 300);

  // An open list of iterations is read again as its map moves, at most every LIST_MS.
  const [listed, setListed] = useState(0);
  const relist = useThrottled(() => setListed((n) => n + 1), LIST_MS);

  const status = useLiveSocket(config.ws, {
    query: () => ({ after: String(current.current.lastSeq) }),
    onEvents: (events) => {
      setHeld((h) => applyEvents(h, events));
      refresh();
    },
    // A map's counts come with the frame: no read of the run is needed for them.
    onProgress: (progress) => {
      setHeld((h) => applyProgress(h, progress));
      if (opened !== null && progress.maps[opened]) relist();
    },
    onReconnect: refresh,
  });

  const started = Date.parse(run.created_at);
  const ended = run.finished_at ? Date.parse(run.finished_at) : now;
  const tally = stepTally(run.steps);
  const stuckStep = run.steps.find((s) => s.status === "failed" || s.status === "compensation_failed");
  const ask = (target: ActTarget) => {
    const { step } = target;
    const row = step ? run.steps.find((s) => s.id === step) : undefined;
    const decision = target.act === "approve" || target.act === "reject";
    setAsked({
      ...target,
      name: row?.name || step || undefined,
      gate: step ? gateOf(config.spec, step) : null,
      input: decision ? run.input : undefined,
    });
  };
  // Approval gates waiting now, with what their approvers need to decide.
  const gates = run.steps.filter((s) => s.type === "approval" && s.status === "waiting");

  return (
    <div className="run-page" data-run-status={run.status}>
      <Slot id="run-head-actions">
        <ConnectionBadge status={status} />
        {run.acts.run.map((act) => (
          <ActButton key={act} target={{ act, step: null }} className="btn btn-danger" ask={ask} />
        ))}
      </Slot>
      <ConnectionBanner status={status} />
      {problem && <p className="alert alert-error">The run could not be read again: {problem}</p>}
      {run.parent && (
        <p className="run-parent" data-parent={run.parent.run}>
          A child run, started by step <code>{run.parent.step}</code>
          {run.parent.index != null && <> (iteration {run.parent.index})</>} of run{" "}
          <a href={`/runs/${run.parent.run}/`}>{shortId(run.parent.run)}</a>: only that run
          compensates it.
        </p>
      )}

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
        {run.status === "stuck" ? (
          <StuckTile run={run} step={stuckStep} now={now} />
        ) : (
          <div className="stat">
            <span className="stat-label">{run.finished_at ? "Took" : "Running for"}</span>
            <span className="stat-value">{duration(ended - started)}</span>
          </div>
        )}
        <SearchTile workflow={run.workflow} search={run.search} />
        <div className="stat stat-wide" data-testid="run-steps">
          <span className="stat-label">Steps</span>
          <span className="stat-value">
            {tally.ran} of {tally.total} ran
          </span>
          <span className="step-tally small">
            {tally.counts.map(([status, n], i) => (
              <span key={status} data-status={status}>
                {i ? " · " : ""}
                {n} {status === "pending" ? (live ? "not started" : "not reached") : statusWord(status)}
              </span>
            ))}
          </span>
        </div>
      </div>

      {run.status === "stuck" && (
        <div className="alert alert-error stuck-alert" role="status">
          <p>
            <strong>Stuck{run.stuck_since ? ` for ${duration(now - Date.parse(run.stuck_since))}` : ""}.</strong>{" "}
            {stuckStep ? (
              <>
                Step <strong>{stuckStep.name || stuckStep.id}</strong> <code>{stuckStep.id}</code>{" "}
                {stuckStep.status === "failed" ? "failed for good" : "could not be compensated"}
                {stuckStep.error ? ":" : "."}
              </>
            ) : (
              "It made no progress before its deadline."
            )}
          </p>
          {stuckStep?.error && (
            <p className="stuck-error">
              <Clamped className="error-text" text={stuckStep.error} />
            </p>
          )}
          <p className="stuck-acts">
            <StuckActs run={run} step={stuckStep?.id ?? null} compensation={!!stuckStep && stuckStep.status !== "failed"} />
            {stuckStep &&
              (run.acts.steps[stuckStep.id] ?? []).map((act) => (
                <ActButton key={act} target={{ act, step: stuckStep.id }} className="btn btn-small" ask={ask} />
              ))}
            {run.acts.run.map((act) => (
              <ActButton key={act} target={{ act, step: null }} className="btn btn-small btn-danger" ask={ask} />
            ))}
          </p>
        </div>
      )}

      {gates.map((step) => {
        const gate = gateOf(config.spec, step.id);
        const acts = (run.acts.steps[step.id] ?? []).filter((a) => a === "approve" || a === "reject");
        return (
          <section key={step.id} className="alert gate-alert" data-gate={step.id} aria-label={`Approval: ${step.name || step.id}`}>
            <div className="gate-alert-body">
              <p className="gate-title">
                <strong>Waiting for approval: {step.name || step.id}</strong> <code>{step.id}</code>
                {step.deadline_at && (
                  <span className="muted"> · times out at <Time iso={step.deadline_at} /></span>
                )}
              </p>
              {gate && <GateNote gate={gate} />}
              <RunInput input={run.input} />
              {!acts.length && <p className="muted small">You are not in its group: a member of it decides.</p>}
            </div>
            {acts.length > 0 && (
              <span className="act-buttons">
                {acts.map((act) => (
                  <ActButton
                    key={act}
                    target={{ act, step: step.id }}
                    className={`btn${act === "approve" ? " btn-primary" : ""}`}
                    ask={ask}
                  />
                ))}
              </span>
            )}
          </section>
        );
      })}

      <section className="card card-flush">
        <div className="card-head">
          <h2>Graph</h2>
          <ul className="status-legend" aria-label="Colours">
            {LEGEND.map((s) => (
              <li key={s}><span className={`swatch st-${s}`} /> {s}</li>
            ))}
          </ul>
        </div>
        <RunGraph
          spec={config.spec}
          layout={config.layout}
          steps={run.steps}
          run={run.status}
          selected={selected}
          onSelect={setSelected}
        />
      </section>

      <section className="card card-flush">
        <div className="card-head"><h2>Steps</h2></div>
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Steps">
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
              </tr>
            </thead>
            <tbody>
              {run.steps.map((step) => (
                <Fragment key={step.id}>
                <tr data-step={step.id} data-status={step.status} className={selected === step.id ? "is-selected" : undefined}>
                  <td className="step-cell">
                    <span className="strong">{step.name || step.id}</span> <code>{step.id}</code>{" "}
                    <span className={`type type-${step.type}`}>{step.type}</span>
                    {step.type === "approval" && <StepGate gate={gateOf(config.spec, step.id)} />}
                    {notTaken(step, config.spec, held.events) && (
                      <span className="not-taken small muted" data-not-taken={step.id}>
                        {notTaken(step, config.spec, held.events)}
                      </span>
                    )}
                    {(run.children ?? [])
                      .filter((child) => child.step === step.id)
                      .map((child) => (
                        <span key={child.run} className="child-run small" data-child={child.run}>
                          child run <a href={`/runs/${child.run}/`}>{shortId(child.run)}</a> of{" "}
                          <code>{child.workflow}</code> <StatusBadge status={child.status} />
                          {child.status === "stuck" && step.status === "waiting" && (
                            <span className="muted"> · this run waits for it</span>
                          )}
                        </span>
                      ))}
                    {step.iterations && (
                      <span className="map-progress small" data-map-progress={step.id}>
                        <MapBar progress={step.iterations} /> {progressWords(step.iterations)}{" "}
                        <button
                          type="button"
                          className="btn btn-small"
                          aria-expanded={opened === step.id}
                          aria-controls={`iterations-${step.id}`}
                          onClick={() => setOpened((o) => (o === step.id ? null : step.id))}
                        >
                          {opened === step.id ? "Hide iterations" : "Iterations"}
                        </button>
                      </span>
                    )}
                    <StepActs step={step} acts={run.acts.steps[step.id] ?? []} ask={ask} />
                  </td>
                  <td><StatusBadge status={step.status} label={stepWord(step, run.status)} /></td>
                  <td className="num">
                    {step.attempts}
                    {step.compensation_attempts ? <span className="muted"> · {step.compensation_attempts} comp.</span> : null}
                  </td>
                  <td className="num">{latency(step.latency_ms)}</td>
                  <td className="nowrap"><Time iso={step.started_at} /></td>
                  <td className="nowrap"><Time iso={step.finished_at} /></td>
                  <td className="clip error-cell">{step.error ? <Clamped className="error-text" text={step.error} /> : ""}</td>
                </tr>
                {step.iterations && opened === step.id && (
                  <tr className="iterations-row" id={`iterations-${step.id}`}>
                    <td colSpan={7}>
                      <IterationList
                        run={run.id}
                        step={step}
                        acts={run.acts.steps[step.id] ?? []}
                        version={`${run.last_seq}.${listed}`}
                        ask={ask}
                      />
                    </td>
                  </tr>
                )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
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
          <JsonBlock value={run.input} label="Input" empty="No input." />
        </section>
        <section className="card">
          <h2>Context</h2>
          <p className="muted small">
            What the steps' templates see: <code>input</code>, each step's <code>output</code>, <code>run.id</code>.
          </p>
          <JsonBlock value={context(run)} label="Context" />
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
                    <dd><JsonBlock value={s.output} label={`Output of ${s.id}`} /></dd>
                  </div>
                ))}
            </dl>
          ) : (
            <p className="muted">No step has an output yet.</p>
          )}
        </section>
      </div>

      <ActDialog
        run={run.id}
        request={asked}
        onDone={(body) => setHeld((h) => applyBody(h, body))}
        onClose={() => setAsked(null)}
      />
    </div>
  );
}
