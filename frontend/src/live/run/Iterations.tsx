// A map step's iterations: its progress at a glance, and the list of its iterations a
// page at a time (GET /api/runs/{id}/steps/{step}/iterations/), with each one's item,
// attempts and error, a link to the child run it started (a map of child sagas), and the
// acts on one iteration where the map allows them.
import { useCallback, useEffect, useState } from "react";
import { client, messageOf, ok } from "../../common/client";
import { latency } from "../../common/time";
import { statusWord } from "../../common/words";
import type { Json, StepStatus } from "../../types";
import { Clamped, shortId, StatusBadge } from "../common";
import type { MapProgress, StepAct, StepRow } from "../types";
import type { ActTarget } from "./ActDialog";

/** The statuses a map's progress names, in the order it names them. */
const SHOWN: readonly StepStatus[] = ["succeeded", "running", "retrying", "failed", "skipped", "compensating", "compensated", "compensation_failed"];

/** "3 of 5 done · 2 running": how far a map has gone, for its row and its node. */
export function progressWords(progress: MapProgress): string {
  const done = (progress.counts.succeeded ?? 0) + (progress.counts.skipped ?? 0);
  const parts = [`${done} of ${progress.total} done`];
  for (const status of SHOWN) {
    const n = progress.counts[status];
    if (n && status !== "succeeded" && status !== "skipped") parts.push(`${n} ${statusWord(status)}`);
  }
  return parts.join(" · ");
}

/** A map's progress as a bar: done, in flight, failed and compensated, in proportion. */
export function MapBar({ progress }: { progress: MapProgress }) {
  const { total, counts } = progress;
  const part = (n: number | undefined) => `${total ? ((n ?? 0) / total) * 100 : 0}%`;
  const done = (counts.succeeded ?? 0) + (counts.skipped ?? 0);
  const moving = (counts.running ?? 0) + (counts.retrying ?? 0) + (counts.waiting ?? 0);
  const failed = (counts.failed ?? 0) + (counts.compensation_failed ?? 0);
  const undone = (counts.compensated ?? 0) + (counts.compensating ?? 0);
  return (
    <span className="map-bar" role="img" aria-label={progressWords(progress)}>
      <span className="map-bar-part st-succeeded" style={{ width: part(done) }} />
      <span className="map-bar-part st-running" style={{ width: part(moving) }} />
      <span className="map-bar-part st-failed" style={{ width: part(failed) }} />
      <span className="map-bar-part st-compensated" style={{ width: part(undone) }} />
    </span>
  );
}

interface Iteration {
  index: number;
  item: Json;
  status: StepStatus;
  attempts: number;
  compensation_attempts: number;
  latency_ms: number | null;
  error: string;
  /** The child run the iteration started, when the map runs a child saga for each item. */
  child: string | null;
}

interface Page {
  results: Iteration[];
  next: number | null;
}

/** The list of a map step's iterations, read when opened and again when the run moves. */
export function IterationList({
  run,
  step,
  acts,
  version,
  ask,
}: {
  run: string;
  step: StepRow;
  acts: StepAct[];
  /** Changes when the run or the map moves: the list is read again. */
  version: string;
  ask: (target: ActTarget) => void;
}) {
  const [status, setStatus] = useState<StepStatus | "">("");
  const [rows, setRows] = useState<Iteration[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [shown, setShown] = useState(1);
  const [problem, setProblem] = useState<string | null>(null);

  const read = useCallback(
    async (after: number) => {
      const query = { after, ...(status ? { status } : {}) };
      const page = (await ok(
        client.GET("/api/runs/{run_id}/steps/{step}/iterations/", { params: { path: { run_id: run, step: step.id }, query } }),
      )) as unknown as Page;
      return page;
    },
    [run, step.id, status],
  );

  useEffect(() => {
    let gone = false;
    // The pages shown so far, read again: the list stays where the reader is.
    (async () => {
      let found: Iteration[] = [];
      let after = -1;
      let more: number | null = null;
      for (let i = 0; i < shown; i++) {
        const page = await read(after);
        found = found.concat(page.results);
        more = page.next;
        if (more === null) break;
        after = more;
      }
      if (!gone) {
        setRows(found);
        setNext(more);
        setProblem(null);
      }
    })().catch((err: unknown) => !gone && setProblem(messageOf(err)));
    return () => {
      gone = true;
    };
  }, [read, shown, version]);

  const actsOn = (it: Iteration): StepAct[] =>
    it.status === "failed" || it.status === "retrying" || it.status === "compensation_failed"
      ? acts.filter((a) => a === "retry" || a === "skip")
      : [];

  return (
    <div className="iterations" data-iterations={step.id}>
      <div className="iterations-head">
        <label>
          Show{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value as StepStatus | "")} aria-label="Show the iterations in status">
            <option value="">every iteration</option>
            {SHOWN.map((s) => (
              <option key={s} value={s}>
                {statusWord(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {problem && <p className="alert alert-error">The iterations could not be read: {problem}</p>}
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`Iterations of ${step.name || step.id}`}>
        <table className="table iterations-table">
          <thead>
            <tr>
              <th className="num">#</th>
              <th>Item</th>
              <th>Status</th>
              <th className="num">Attempts</th>
              <th className="num">Latency</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((it) => (
              <tr key={it.index} data-index={it.index} data-status={it.status}>
                <td className="num">{it.index}</td>
                <td className="clip">
                  <code className="item">{JSON.stringify(it.item)}</code>
                  {it.child && (
                    <>
                      {" "}
                      <a className="iteration-child" href={`/runs/${it.child}/`} data-child={it.child}>
                        child run {shortId(it.child)}
                      </a>
                    </>
                  )}
                </td>
                <td>
                  <StatusBadge status={it.status} />
                  {actsOn(it).length > 0 && (
                    <span className="act-buttons step-acts">
                      {actsOn(it).map((act) => (
                        <button
                          key={act}
                          type="button"
                          className={`btn btn-small${act === "retry" ? " btn-primary" : ""}`}
                          data-act={act}
                          data-index={it.index}
                          onClick={() => ask({ act, step: step.id, index: it.index })}
                        >
                          {act === "retry" ? "Retry" : "Skip"}…
                        </button>
                      ))}
                    </span>
                  )}
                </td>
                <td className="num">
                  {it.attempts}
                  {it.compensation_attempts ? <span className="muted"> · {it.compensation_attempts} comp.</span> : null}
                </td>
                <td className="num">{latency(it.latency_ms)}</td>
                <td className="clip error-cell">{it.error ? <Clamped className="error-text" text={it.error} /> : ""}</td>
              </tr>
            ))}
            {!rows.length && !problem && (
              <tr>
                <td colSpan={6} className="muted">
                  {status ? `No iteration is ${statusWord(status)}.` : "No iteration has begun yet."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {next !== null && (
        <p className="pager">
          <button type="button" className="btn btn-small" onClick={() => setShown((n) => n + 1)}>
            More iterations
          </button>
        </p>
      )}
    </div>
  );
}
