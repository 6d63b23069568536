// The board: stuck runs on top, then one page of the runs that match the filters, newest
// first, kept live by /ws/board/.
//
// The page is bounded. The first page shows the newest runs, at most a page of them;
// runs that start while it is full are held as a count, "12 newer runs", which the
// reader reveals (the first page is read again). A later page, reached by the API's
// keyset cursor, keeps its runs whatever starts meanwhile. On every page a run's status
// changes in place as its events arrive. An event costs a lookup among the page's runs
// and a bounded count (HeldRuns), and a batch of them a pass over the page at most,
// however long the board has been open; the API is read on the reader's request, on
// (re)connecting, while the first page still has room, and for the stuck runs when one
// gets stuck or is no longer, each at most once a second.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { client, ok } from "../../common/client";
import { ago, useNow } from "../../common/time";
import { TERMINAL } from "../../generated/vocabulary";
import { isRunStatus, type RunStatus } from "../../types";
import { ConnectionBadge, ConnectionBanner, shortId, Slot, useThrottled } from "../common";
import { useLiveSocket } from "../socket";
import type { BoardConfig, RunEvent, RunPage, RunRow, RunsQuery, SnapshotRun } from "../types";
import { problemOf } from "./filters";
import { HeldRuns } from "./held";
import { runUrl, RunsTable } from "./RunsTable";

/** The cursor in a page's link to another. */
function cursorOf(link: string | null): string | null {
  return link ? new URL(link, window.location.href).searchParams.get("cursor") : null;
}

const REFRESH_MS = 1000;
/** How often the count of newer runs may change on screen: it is announced to screen
 * readers, which a count moving with every run started would flood. */
const COUNT_EVERY_MS = 2000;

interface RunsPage {
  rows: RunRow[];
  /** The cursor this page was read with; null for the first page, the live one. */
  cursor: string | null;
  next: string | null;
  previous: string | null;
  /** 1 for the first page. */
  number: number;
}

interface StuckList {
  rows: RunRow[];
  next: string | null;
}

interface Change {
  status: RunStatus;
  at: string;
  seq: number;
}

/** ``row`` as the latest event of its run says, if that is newer than what it shows. */
function changed(row: RunRow, change: Change | undefined): RunRow {
  // Events of one run published by different processes can arrive out of order.
  if (!change || change.seq <= row.last_seq) return row;
  const finished_at = TERMINAL.has(change.status) ? (row.finished_at ?? change.at) : row.finished_at;
  return { ...row, status: change.status, updated_at: change.at, last_seq: change.seq, finished_at };
}

/** ``rows`` with their latest changes, the same array when none applies. */
function applied(rows: RunRow[], latest: ReadonlyMap<string, Change>): RunRow[] {
  let out: RunRow[] | null = null;
  rows.forEach((row, i) => {
    const next = changed(row, latest.get(row.id));
    if (next !== row) {
      out ??= rows.slice();
      out[i] = next;
    }
  });
  return out ?? rows;
}

export function Board({ config }: { config: BoardConfig }) {
  const pageSize = config.page_size;
  const [page, setPage] = useState<RunsPage>({ rows: config.runs.results, cursor: null, next: config.runs.next, previous: null, number: 1 });
  const [stuck, setStuck] = useState<StuckList>({ rows: config.stuck.results, next: config.stuck.next });
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [heldCount, setHeldCount] = useState(0);
  const [heldMore, setHeldMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const held = useRef<HeldRuns | null>(null);
  held.current ??= new HeldRuns(pageSize);
  /** Bumped by each move between pages: a read for an earlier one is not shown. */
  const generation = useRef(0);
  const heading = useRef<HTMLHeadingElement>(null);
  const [focusHeading, setFocusHeading] = useState(0);
  const now = useNow(1000);

  const onPage = useMemo(() => new Set(page.rows.map((r) => r.id)), [page.rows]);
  const stuckIds = useMemo(() => new Set(stuck.rows.filter((r) => r.status === "stuck").map((r) => r.id)), [stuck.rows]);
  const wanted = useMemo(() => new Set(config.query.workflow.split(",").filter(Boolean)), [config]);
  const statuses = useMemo(() => new Set(config.query.status.split(",").filter(Boolean)), [config]);
  const closed = config.query.until !== "" && Date.parse(config.query.until) < Date.now();
  const first = page.cursor === null;

  useEffect(() => {
    if (focusHeading) heading.current?.focus();
  }, [focusHeading]);

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

  const showCount = useThrottled(() => {
    setHeldCount(held.current?.count ?? 0);
    setHeldMore(held.current?.more ?? false);
  }, COUNT_EVERY_MS);

  /** Show the page read with ``cursor`` (null: the first page, the newest runs). */
  const go = (cursor: string | null, number: number, { reveal = false } = {}) => {
    const gen = ++generation.current;
    const mark = held.current!.mark();
    setLoading(true);
    readRuns({ page_size: pageSize, cursor: cursor ?? undefined })
      .then((read) => {
        if (gen !== generation.current) return;
        // Going newer, up to the top: that is the first page, and it is live again.
        if (cursor !== null && read.previous === null) {
          go(null, 1);
          return;
        }
        const shown = new Set(read.results.map((r) => r.id));
        if (cursor === null) {
          held.current!.settle(mark, shown);
        } else {
          held.current!.clear();
        }
        setHeldCount(held.current!.count);
        setHeldMore(held.current!.more);
        setFresh(reveal ? new Set(read.results.filter((r) => !onPage.has(r.id)).map((r) => r.id)) : new Set());
        setPage({ rows: read.results, cursor, next: cursorOf(read.next), previous: cursor === null ? null : cursorOf(read.previous), number });
        setProblem(null);
        setFocusHeading((n) => n + 1);
      })
      .catch((err: unknown) => setProblem(problemOf(err)))
      .finally(() => {
        if (gen === generation.current) setLoading(false);
      });
  };
  const reveal = () => go(null, 1, { reveal: true });
  const newest = () => go(null, 1);
  const older = () => page.next && go(page.next, page.number + 1);
  // Back to the second page and up: the first is the live one, with what started since.
  const newer = () => (page.number <= 2 ? newest() : page.previous && go(page.previous, page.number - 1));

  /** While the first page has room: read it again, so that the runs started since fill
   * it. Once it is full, what started after the read stays held. */
  const fill = useThrottled(() => {
    if (page.cursor !== null) return;
    if (page.rows.length >= pageSize) {
      showCount();
      return;
    }
    const gen = generation.current;
    const mark = held.current!.mark();
    readRuns({ page_size: pageSize })
      .then((read) => {
        if (gen !== generation.current) return;
        const shown = new Set(read.results.map((r) => r.id));
        held.current!.settle(mark, shown);
        setHeldCount(held.current!.count);
        setHeldMore(held.current!.more);
        setFresh(new Set(read.results.filter((r) => !onPage.has(r.id)).map((r) => r.id)));
        setPage((p) => ({ ...p, rows: read.results, next: cursorOf(read.next) }));
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(problemOf(err)));
  }, REFRESH_MS);

  /** After a (re)connect, on a full first page: count the runs started above it meanwhile. */
  const recount = (top: RunRow) => {
    const gen = generation.current;
    readRuns({ since: top.created_at, page_size: pageSize })
      .then((read) => {
        if (gen !== generation.current) return;
        for (const row of read.results) {
          if (!onPage.has(row.id)) held.current!.add(row.id);
        }
        if (read.next) held.current!.more = true;
        if (held.current!.count) showCount();
      })
      .catch((err: unknown) => setProblem(problemOf(err)));
  };

  /** The page's runs read again, for their statuses only: it keeps its runs. */
  const restatus = useThrottled(() => {
    const gen = generation.current;
    readRuns({ page_size: pageSize, cursor: page.cursor ?? undefined })
      .then((read) => {
        if (gen !== generation.current) return;
        const latest = new Map(read.results.map((r): [string, Change] => [r.id, { status: r.status, at: r.updated_at, seq: r.last_seq }]));
        setPage((p) => ({ ...p, rows: applied(p.rows, latest) }));
      })
      .catch((err: unknown) => setProblem(problemOf(err)));
  }, REFRESH_MS);

  const refreshStuck = useThrottled(() => {
    readRuns({ order: "stuck", status: "", since: "", until: "", page_size: 20 })
      .then((read) => setStuck({ rows: read.results, next: cursorOf(read.next) }))
      .catch((err: unknown) => setProblem(problemOf(err)));
  }, REFRESH_MS);

  const matches = (status: RunStatus | null) => !statuses.size || (status !== null && statuses.has(status));

  const onEvents = (events: RunEvent[]) => {
    const latest = new Map<string, Change>();
    let touched = false;
    let counted = false;
    let room = false;
    let stuckChanged = false;
    let reread = false;
    const counting = first && !closed;
    for (const event of events) {
      if (wanted.size && !wanted.has(event.workflow)) continue;
      // Events as they happen carry the run's status (run_status). Replayed ones do
      // not: there run events and acts carry it, and step events only the step's.
      const runEvent = event.step === null || event.event.startsWith("act.");
      const runStatus = isRunStatus(event.run_status) ? event.run_status : runEvent && isRunStatus(event.status) ? event.status : null;
      const shown = onPage.has(event.run);
      if (runStatus && (shown || stuckIds.has(event.run))) {
        const before = latest.get(event.run);
        if (!before || event.seq > before.seq) latest.set(event.run, { status: runStatus, at: event.at, seq: event.seq });
        touched ||= shown;
      }
      if (counting && !shown) {
        // A run that starts now is newer than every run on the first page. One that
        // starts outside the status filter is counted if it enters it later.
        let arrived = false;
        if (event.event === "run.started") {
          if (matches(runStatus)) arrived = true;
          else if (statuses.size) held.current!.watch(event.run);
        } else if (statuses.size && runStatus && matches(runStatus)) {
          arrived = held.current!.unwatch(event.run);
        }
        if (arrived) counted = held.current!.add(event.run) || counted;
        // An older run that enters the status filter belongs somewhere on the page by
        // when it started, which a read tells; on a full page it waits for the next one
        // (it is no newer run, and the page does not move under the reader).
        else if (statuses.size && runStatus && matches(runStatus) && page.rows.length < pageSize) room = true;
      }
      if (runStatus && (runStatus === "stuck") !== stuckIds.has(event.run)) stuckChanged = true;
      // A replayed step event of an active run may have moved it between running and
      // waiting, which has no run event of its own: a read tells.
      if (!runStatus && shown) reread = true;
    }
    if (touched) setPage((p) => ({ ...p, rows: applied(p.rows, latest) }));
    if (latest.size && stuckIds.size) setStuck((list) => ({ ...list, rows: applied(list.rows, latest) }));
    // Held while the first page is full; while it has room, they fill it.
    if (counted || room) fill();
    if (stuckChanged) refreshStuck();
    if (reread) restatus();
  };

  // On every connect: the latest state of the runs. Runs can have started (even
  // finished) between the page's first read and the socket's subscription, or while
  // the socket was down; their events are not sent again.
  const onSnapshot = (snapshot: SnapshotRun[]) => {
    const latest = new Map<string, Change>();
    for (const s of snapshot) {
      if (onPage.has(s.run) || stuckIds.has(s.run)) latest.set(s.run, { status: s.status, at: s.updated_at, seq: s.last_seq });
    }
    if (latest.size) {
      setPage((p) => ({ ...p, rows: applied(p.rows, latest) }));
      setStuck((list) => ({ ...list, rows: applied(list.rows, latest) }));
    }
    refreshStuck();
    if (first && !closed) {
      if (page.rows.length < pageSize) fill();
      else recount(page.rows[0]);
    }
  };

  const status = useLiveSocket(config.ws, { onEvents, onSnapshot });

  const stuckRows = stuck.rows.filter((r) => r.status === "stuck");
  const heldLabel = `${heldCount}${heldMore ? "+" : ""} newer run${heldCount === 1 && !heldMore ? "" : "s"}`;

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
                    <td><a className="strong mono" href={runUrl(config, row.id)}>{shortId(row.id)}</a></td>
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
          <h2 id="runs-title" ref={heading} tabIndex={-1}>Runs</h2>
          <span className="muted">{first ? "newest first" : "older runs, newest first"} · {page.rows.length} shown</span>
        </div>
        {/* Always in the page, so that a screen reader hears it change. */}
        <div className="newer-runs" data-newer-runs role="status" aria-live="polite" aria-atomic="true">
          {first && heldCount > 0 && page.rows.length >= pageSize && (
            <button type="button" className="btn btn-small newer-runs-button" onClick={reveal} disabled={loading}>
              <span aria-hidden="true">↑</span> {heldLabel}
            </button>
          )}
        </div>
        {page.rows.length ? (
          <RunsTable rows={page.rows} fresh={fresh} now={now} config={config} />
        ) : (
          <div className="empty">
            <p><strong>No runs match.</strong></p>
            <p className="muted">Runs started now appear here as they start.</p>
          </div>
        )}
        {(page.next || !first) && (
          <nav className="card-foot pager" aria-label="Pages of runs">
            {page.number > 2 && (
              <button type="button" className="btn btn-ghost" onClick={newest} disabled={loading}>
                Newest
              </button>
            )}
            {page.previous && (
              <button type="button" className="btn" onClick={newer} disabled={loading}>
                <span aria-hidden="true">←</span> Newer
              </button>
            )}
            <span className="runs-page muted">{loading ? "Loading…" : `page ${page.number}`}</span>
            {page.next && (
              <button type="button" className="btn" onClick={older} disabled={loading}>
                Older <span aria-hidden="true">→</span>
              </button>
            )}
          </nav>
        )}
      </section>
    </div>
  );
}
