// Simulation: what a run would do with the sample input if one step failed for good,
// computed by the engine's pure core on the server, with no side effects: which
// branches run, how many iterations each map runs and which compensations run.
import { useState } from "react";
import { ApiError, client, ok } from "../common/client";
import type { Json, RunStatus, Simulation, Spec } from "../types";
import type { SampleInput } from "./hooks/useSampleInput";

interface Props {
  spec: Spec;
  valid: boolean;
  current: Simulation | null;
  onShow: (sim: Simulation | null) => void;
  sample: SampleInput;
  readOnly: boolean;
}

const OUTCOME: Partial<Record<RunStatus, string>> = {
  completed: "completes",
  compensated: "is compensated",
  stuck: "is stuck until an operator acts",
};

export function outcomeText(sim: Simulation): string {
  return OUTCOME[sim.status] ?? sim.status;
}

/** What a run of ``spec`` with ``input`` would do if ``failStep`` failed for good (null: none fails). */
async function simulate(spec: Spec, failStep: string | null, input: Json): Promise<Simulation> {
  // The schema sends the statuses as strings; they are the kernel's.
  return (await ok(client.POST("/api/simulate/", { body: { spec, fail_step: failStep, fail_each: false, input } }))) as Simulation;
}

/** A simulation for each step failing in turn. */
async function simulateEach(spec: Spec, input: Json): Promise<Simulation[]> {
  const answer = await ok(client.POST("/api/simulate/", { body: { spec, fail_step: null, fail_each: true, input } }));
  // With fail_each the server answers {scenarios: [...]}, which the schema does not say.
  return (answer as unknown as { scenarios: Simulation[] }).scenarios;
}

/** How a map's iterations read: "3 iterations". */
function iterationsText(n: number): string {
  return `${n} ${n === 1 ? "iteration" : "iterations"}`;
}

/** Why a step was not taken, in its own words: its condition, or the steps before it. */
function conditionOf(spec: Spec, id: string): string {
  const step = spec.steps.find((s) => s.id === id);
  return step?.when ? `${step.when} is false` : "every step before it was not taken";
}

export function SimulatePanel({ spec, valid, current, onShow, sample, readOnly }: Props) {
  const [failStep, setFailStep] = useState<string>("");
  const [scenarios, setScenarios] = useState<Simulation[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const failable = spec.steps.filter((s) => s.type !== "delay");

  const input = sample.json;
  const canRun = valid && !busy && input !== undefined;

  const run = async (each: boolean) => {
    if (input === undefined) return;
    setBusy(true);
    setError(null);
    try {
      if (each) {
        const scenarios = await simulateEach(spec, input);
        setScenarios(scenarios);
        onShow(scenarios[0] ?? null);
      } else {
        onShow(await simulate(spec, failStep || null, input));
      }
    } catch (err) {
      setError(err instanceof ApiError ? err.described() : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="panel-body" data-panel="simulate">
      <div className="panel-title">
        <h2>Simulate a run</h2>
        {current && (
          <button type="button" className="btn btn-small btn-ghost" onClick={() => onShow(null)}>
            Clear
          </button>
        )}
      </div>
      <p className="panel-help">
        A run with the sample input: every step succeeds, except the one you pick, which fails for good. The canvas shows the
        path the run takes, the steps their condition leaves out and the compensations that run, in order. Nothing is called.
      </p>
      {!valid && <p className="field-local-error">Fix the errors first: only a valid definition can be simulated.</p>}
      <div className={`panel-field${sample.problem ? " has-error" : ""}`} data-field="sample-input">
        <label htmlFor="sim-input">Sample input (JSON)</label>
        <textarea
          id="sim-input"
          className="mono"
          rows={5}
          spellCheck={false}
          value={sample.text}
          placeholder='{"amount": 20000, "items": [{"sku": "A-1"}]}'
          aria-invalid={sample.problem ? true : undefined}
          aria-describedby="sim-input-check sim-input-help"
          onChange={(e) => sample.setText(e.target.value)}
        />
        <p id="sim-input-check" className="field-local-error" aria-live="polite">
          {sample.problem ? `Not valid JSON yet: ${sample.problem}` : ""}
        </p>
        <p id="sim-input-help" className="panel-help">
          What a run would be started with. Conditions, their previews and maps' items read it; kept in this browser for this
          workflow{readOnly ? "" : ", not saved with the draft"}.
        </p>
      </div>
      <div className="panel-field">
        <label htmlFor="sim-fail-step">Step that fails</label>
        <select id="sim-fail-step" value={failStep} onChange={(e) => setFailStep(e.target.value)}>
          <option value="">none: every step succeeds</option>
          {failable.map((s) => (
            <option key={s.id} value={s.id}>
              {s.id}
              {s.name ? ` · ${s.name}` : ""}
            </option>
          ))}
        </select>
      </div>
      <div className="panel-actions">
        <button type="button" className="btn btn-primary btn-small" disabled={!canRun} onClick={() => run(false)}>
          Simulate
        </button>
        <button type="button" className="btn btn-small" disabled={!canRun} onClick={() => run(true)}>
          Fail each step in turn
        </button>
      </div>
      <div aria-live="polite">
        {error && <p className="field-local-error">{error}</p>}
      </div>

      <div aria-live="polite" aria-atomic="false">
      {current && (
        <div className="sim-result" data-sim-status={current.status}>
          <p className="sim-outcome">
            {current.fail_step ? (
              <>
                If <code>{current.fail_step}</code> fails, the run{" "}
              </>
            ) : (
              <>If every step succeeds, the run </>
            )}
            <span className={`run-badge run-${current.status}`}>{outcomeText(current)}</span>
          </p>
          <h3>Path</h3>
          <ol className="sim-path">
            {current.path.map((id) => (
              <li key={id} className={id === current.fail_step ? "is-failed" : ""} data-step={id}>
                <code>{id}</code> {id === current.fail_step ? "fails" : current.steps[id]}
                {current.iterations[id] !== undefined && (
                  <span className="sim-iterations" data-iterations={current.iterations[id]}>
                    {" "}· {iterationsText(current.iterations[id])}
                  </span>
                )}
              </li>
            ))}
          </ol>
          <h3>Not taken</h3>
          {current.not_taken.length ? (
            <ul className="sim-not-taken">
              {current.not_taken.map((id) => (
                <li key={id} data-step={id}>
                  <code>{id}</code> skipped: {conditionOf(spec, id)}
                </li>
              ))}
            </ul>
          ) : (
            <p className="panel-help">None: every condition on the path holds.</p>
          )}
          <h3>Compensations, in the order they run</h3>
          {current.compensations.length ? (
            <ol className="sim-compensations">
              {current.compensations.map((c) => (
                <li key={`${c.step}:${c.index ?? ""}`} data-step={c.step}>
                  <code>{c.step}</code>
                  {c.index !== null && <span className="muted"> iteration {c.index}</span>}
                </li>
              ))}
            </ol>
          ) : (
            <p className="panel-help">
              {current.status === "compensated"
                ? "None: no step that succeeded has a compensation."
                : "None."}
            </p>
          )}
          <details className="sim-events">
            <summary>Event log ({current.events.length} events)</summary>
            <ol>
              {current.events.map((e) => (
                <li key={e.seq}>
                  <code>{e.event}</code> {e.step ? <strong>{e.step}</strong> : null} → {e.status}
                  {e.error ? <span className="muted"> ({e.error})</span> : null}
                </li>
              ))}
            </ol>
          </details>
        </div>
      )}
      </div>

      {scenarios && (
        <div className="sim-table-wrap">
          <h3>A failure at each step</h3>
          <table className="sim-table">
            <thead>
              <tr>
                <th>Fails</th>
                <th>Run</th>
                <th>Compensations</th>
              </tr>
            </thead>
            <tbody>
              {scenarios.map((s) => (
                <tr
                  key={s.fail_step ?? "none"}
                  className={current === s ? "is-current" : ""}
                  onClick={() => onShow(s)}
                  tabIndex={0}
                  onKeyDown={(e) => e.key === "Enter" && onShow(s)}
                >
                  <td>
                    <code>{s.fail_step ?? "—"}</code>
                  </td>
                  <td>
                    <span className={`run-badge run-${s.status}`}>{s.status}</span>
                  </td>
                  <td>{s.compensation_order.join(" → ") || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
