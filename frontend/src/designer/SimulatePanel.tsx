// Simulation: what a run would do if one step failed for good, computed by the
// engine's pure core on the server, with no side effects.
import { useState } from "react";
import { ApiError, client, ok } from "../common/client";
import type { RunStatus, Simulation, Spec } from "../types";

interface Props {
  spec: Spec;
  valid: boolean;
  current: Simulation | null;
  onShow: (sim: Simulation | null) => void;
}

const OUTCOME: Partial<Record<RunStatus, string>> = {
  completed: "completes",
  compensated: "is compensated",
  stuck: "is stuck until an operator acts",
};

export function outcomeText(sim: Simulation): string {
  return OUTCOME[sim.status] ?? sim.status;
}

/** What a run of ``spec`` would do if ``failStep`` failed for good (null: none fails). */
async function simulate(spec: Spec, failStep: string | null): Promise<Simulation> {
  // The schema sends the statuses as strings; they are the kernel's.
  return (await ok(client.POST("/api/simulate/", { body: { spec, fail_step: failStep, fail_each: false } }))) as Simulation;
}

/** A simulation for each step failing in turn. */
async function simulateEach(spec: Spec): Promise<Simulation[]> {
  const answer = await ok(client.POST("/api/simulate/", { body: { spec, fail_step: null, fail_each: true } }));
  // With fail_each the server answers {scenarios: [...]}, which the schema does not say.
  return (answer as unknown as { scenarios: Simulation[] }).scenarios;
}

export function SimulatePanel({ spec, valid, current, onShow }: Props) {
  const [failStep, setFailStep] = useState<string>("");
  const [scenarios, setScenarios] = useState<Simulation[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const failable = spec.steps.filter((s) => s.type !== "delay");

  const run = async (each: boolean) => {
    setBusy(true);
    setError(null);
    try {
      if (each) {
        const scenarios = await simulateEach(spec);
        setScenarios(scenarios);
        onShow(scenarios[0] ?? null);
      } else {
        onShow(await simulate(spec, failStep || null));
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
        Every step succeeds, except the one you pick, which fails for good. The canvas shows the path the run takes and the
        compensations that run, in order. Nothing is called.
      </p>
      {!valid && <p className="field-local-error">Fix the errors first: only a valid definition can be simulated.</p>}
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
        <button type="button" className="btn btn-primary btn-small" disabled={!valid || busy} onClick={() => run(false)}>
          Simulate
        </button>
        <button type="button" className="btn btn-small" disabled={!valid || busy} onClick={() => run(true)}>
          Fail each step in turn
        </button>
      </div>
      {error && <p className="field-local-error">{error}</p>}

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
              <li key={id} className={id === current.fail_step ? "is-failed" : ""}>
                <code>{id}</code> {id === current.fail_step ? "fails" : current.steps[id]}
              </li>
            ))}
          </ol>
          <h3>Compensations, in the order they run</h3>
          {current.compensation_order.length ? (
            <ol className="sim-compensations">
              {current.compensation_order.map((id) => (
                <li key={id}>
                  <code>{id}</code>
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
