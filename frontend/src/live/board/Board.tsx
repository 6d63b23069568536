// The board: stuck runs on top, then the runs that match the filters, newest
// first, kept live by /ws/board/. A run's status changes in place as its events
// arrive; a run the page has not seen brings the first page (and the stuck
// list) back from the API, at most once a second. Older pages load on demand,
// by the API's cursor.
import { useCallback, useMemo, useRef, useState } from "react";
import { client, messageOf, ok } from "../../common/client";
import { ago, Time, useNow } from "../../common/time";
import { TERMINAL } from "../../generated/vocabulary";
import { isRunStatus, type RunStatus } from "../../types";
import { ConnectionBadge, ConnectionBanner, shortId, Slot, StatusBadge, useThrottled } from "../common";
import { useLiveSocket } from "../socket";
import type { BoardConfig, RunEvent, RunPage, RunRow, RunsQuery, SnapshotRun } from "../types";

interface List {
  rows: RunRow[];
  /** The cursor of the next page, if there is one. */
  next: string | null;
}

/** The cursor in a page's link to the next one. */
function cursorOf(next: string | null): string | null {
  return next ? new URL(next, window.location.href).searchParams.get("cursor") : null;
}

const REFRESH_MS = 1000;

function merge(fresh: RunRow[], rows: RunRow[]): RunRow[] {
  const seen = new Set(fresh.map((r) => r.id));
  return [...fresh, ...rows.filter((r) => !seen.has(r.id))];
}

export function Board({ config }: { config: BoardConfig }) {
  const [runs, setRuns] = useState<List>({ rows: config.runs.results, next: config.runs.next });
  const [stuck, setStuck] = useState<List>({ rows: config.stuck.results, next: config.stuck.next });
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [loadingMore, setLoadingMore] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const known = useRef(new Set<string>());
  known.current = new Set([...runs.rows, ...stuck.rows].map((r) => r.id));
  const active = useRef(new Set<string>());
  active.current = new Set(runs.rows.filter((r) => !TERMINAL.has(r.status)).map((r) => r.id));
  const stuckIds = useRef(new Set<string>());
  stuckIds.current = new Set(stuck.rows.filter((r) => r.status === "stuck").map((r) => r.id));
  const wanted = useMemo(() => new Set(config.query.workflow.split(",").filter(Boolean)), [config]);
  const now = useNow(1000);

  /** A page of runs: the board's filters, with ``extra`` in place of some; an empty
   * value leaves the filter out. */
  const readRuns = useCallback(
    async (extra: RunsQuery): Promise<RunPage> => {
      const given = Object.entries({ ...config.query, ...extra }).filter(([, value]) => value !== "" && value !== undefined);
      const query = Object.fromEntries(given) as RunsQuery;
      // The schema leaves a run's status optional, which the server always sends.
      return (await ok(client.GET("/api/runs/", { params: { query } }))) as RunPage;
    },
    [config],
  );

  const refresh = useThrottled(() => {
    Promise.all([
      readRuns({ page_size: 50 }),
      readRuns({ order: "stuck", status: "", since: "", until: "", page_size: 20 }),
    ])
      .then(([page, stuckPage]) => {
        setRuns((list) => {
          const before = new Set(list.rows.map((r) => r.id));
          const added = page.results.filter((r) => !before.has(r.id)).map((r) => r.id);
          if (added.length) setFresh(new Set(added));
          // The first page as it is now, then what was loaded beyond it.
          return { rows: merge(page.results, list.rows), next: list.next ?? cursorOf(page.next) };
        });
        setStuck({ rows: stuckPage.results, next: cursorOf(stuckPage.next) });
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(messageOf(err)));
  }, REFRESH_MS);

  const statuses = useMemo(() => new Set(config.query.status.split(",").filter(Boolean)), [config]);
  const closed = config.query.until !== "" && Date.parse(config.query.until) < Date.now();

  const onEvents = (events: RunEvent[]) => {
    let unseen = false;
    let stuckChanged = false;
    const latest = new Map<string, { status: RunStatus; at: string; seq: number }>();
    for (const event of events) {
      if (wanted.size && !wanted.has(event.workflow)) continue;
      // Events as they happen carry the run's status (run_status). Replayed ones do
      // not: there run events and acts carry it, and step events only the step's.
      const runEvent = event.step === null || event.event.startsWith("act.");
      const runStatus = isRunStatus(event.run_status) ? event.run_status : runEvent && isRunStatus(event.status) ? event.status : null;
      if (runStatus) {
        const before = latest.get(event.run);
        if (!before || event.seq > before.seq) latest.set(event.run, { status: runStatus, at: event.at, seq: event.seq });
      }
      if (!known.current.has(event.run) && !closed) {
        // A run not on the page: it belongs on it if it matches the filters now.
        if (!statuses.size || (runStatus && statuses.has(runStatus))) unseen = true;
      }
      if (runStatus && (runStatus === "stuck") !== stuckIds.current.has(event.run)) stuckChanged = true;
      // A replayed step event of an active run may have moved it between running and
      // waiting, which has no run event of its own: a read tells.
      if (!runStatus && known.current.has(event.run) && active.current.has(event.run)) unseen = true;
    }
    if (latest.size) {
      const update = (row: RunRow): RunRow => {
        const event = latest.get(row.id);
        // Events of one run published by different processes can arrive out of order.
        if (!event || event.seq <= row.last_seq) return row;
        return { ...row, status: event.status, updated_at: event.at, last_seq: event.seq };
      };
      setRuns((list) => ({ ...list, rows: list.rows.map(update) }));
      setStuck((list) => ({ ...list, rows: list.rows.map(update) }));
    }
    if (unseen || stuckChanged) refresh();
  };

  // On every connect: the latest state of the runs. Runs can have started (even
  // finished) between the page's first read and the socket's subscription, so the
  // lists are read again as well.
  const onSnapshot = (snapshot: SnapshotRun[]) => {
    const byId = new Map(snapshot.map((r) => [r.run, r]));
    const update = (row: RunRow): RunRow => {
      const s = byId.get(row.id);
      return s && s.last_seq > row.last_seq ? { ...row, status: s.status, updated_at: s.updated_at, last_seq: s.last_seq } : row;
    };
    setRuns((list) => ({ ...list, rows: list.rows.map(update) }));
    setStuck((list) => ({ ...list, rows: list.rows.map(update) }));
    refresh();
  };

  const status = useLiveSocket(config.ws, { onEvents, onSnapshot });

  const loadMore = () => {
    if (!runs.next) return;
    setLoadingMore(true);
    readRuns({ cursor: runs.next, page_size: 50 })
      .then((page) => {
        setRuns((list) => ({ rows: merge(list.rows, page.results), next: cursorOf(page.next) }));
      })
      .catch((err: unknown) => setProblem(messageOf(err)))
      .finally(() => setLoadingMore(false));
  };

  const runUrl = (id: string) => config.run_url.replace("00000000-0000-0000-0000-000000000000", id);
  const stuckRows = stuck.rows.filter((r) => r.status === "stuck");

  return (
    <div className="board" data-live={status.state}>
      <Slot id="live-indicator">
        <ConnectionBadge status={status} />
      </Slot>
      <ConnectionBanner status={status} />
      {problem && <p className="alert alert-error">The board could not be brought up to date: {problem}</p>}

      <section className={`card card-flush stuck-card${stuckRows.length ? " has-stuck" : ""}`} aria-labelledby="stuck-title">
        <div className="card-head">
          <h2 id="stuck-title">
            Stuck runs <span className="count" data-count={stuckRows.length}>{stuckRows.length}{stuck.next ? "+" : ""}</span>
          </h2>
          <span className="muted">waiting for an operator, the longest stuck first</span>
        </div>
        {stuckRows.length ? (
          <div className="table-scroll">
            <table className="table table-compact runs-table stuck-table">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Workflow</th>
                  <th>Stuck at</th>
                  <th>Error</th>
                  <th className="num">Stuck for</th>
                </tr>
              </thead>
              <tbody>
                {stuckRows.map((row) => (
                  <tr key={row.id} data-run={row.id}>
                    <td><a className="strong mono" href={runUrl(row.id)}>{shortId(row.id)}</a></td>
                    <td>{row.workflow_name} <span className="muted">v{row.version}</span></td>
                    <td>{row.stuck_step ? <code>{row.stuck_step}</code> : <span className="muted">no progress</span>}</td>
                    <td className="clip error-text">{row.stuck_error ?? "—"}</td>
                    <td className="num stuck-for" data-stuck-since={row.stuck_since ?? ""}>
                      {row.stuck_since ? ago(row.stuck_since, now).replace(" ago", "") : "—"}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="empty-line"><span className="ok-dot" aria-hidden="true" /> No run is stuck.</p>
        )}
      </section>

      <section className="card card-flush" aria-labelledby="runs-title">
        <div className="card-head">
          <h2 id="runs-title">Runs</h2>
          <span className="muted">newest first · {runs.rows.length} shown</span>
        </div>
        {runs.rows.length ? (
          <div className="table-scroll">
            <table className="table runs-table" data-testid="runs">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Workflow</th>
                  <th>Status</th>
                  <th>Started by</th>
                  <th>Started</th>
                  <th className="num">Duration</th>
                  <th>Last change</th>
                </tr>
              </thead>
              <tbody>
                {runs.rows.map((row) => (
                  <tr key={row.id} data-run={row.id} data-status={row.status} className={fresh.has(row.id) ? "row-new" : undefined}>
                    <td><a className="strong mono" href={runUrl(row.id)}>{shortId(row.id)}</a></td>
                    <td>
                      <a href={config.overview_url.replace("__slug__", row.workflow)}>{row.workflow_name}</a>{" "}
                      <span className="muted">v{row.version}</span>
                    </td>
                    <td><StatusBadge status={row.status} /></td>
                    <td>{row.started_by ?? <span className="muted">—</span>}</td>
                    <td className="nowrap"><Time iso={row.created_at} /></td>
                    <td className="num">{runDuration(row, now)}</td>
                    <td className="nowrap muted"><Time iso={row.updated_at}>{ago(row.updated_at, now)}</Time></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <div className="empty">
            <p><strong>No runs match.</strong></p>
            <p className="muted">Runs started now appear here as they start.</p>
          </div>
        )}
        {runs.next && (
          <div className="card-foot center">
            <button type="button" className="btn" onClick={loadMore} disabled={loadingMore}>
              {loadingMore ? "Loading…" : "Load older runs"}
            </button>
          </div>
        )}
      </section>
    </div>
  );
}

function runDuration(row: RunRow, now: number): string {
  const start = Date.parse(row.created_at);
  const end = row.finished_at ? Date.parse(row.finished_at) : now;
  const s = Math.max(0, end - start) / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
