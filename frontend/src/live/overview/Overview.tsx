// A workflow's overview: runs per minute, how the runs of the window stand, the
// latency percentiles of each step (uPlot), and the runs stuck now. The figures
// are the server's (GET /api/workflows/<slug>/stats/); /ws/workflows/<slug>/
// says when to read them again, at most every two seconds.
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import { client, messageOf, ok } from "../../common/client";
import { ago, latency, minuteStamp, tickLabels, useNow } from "../../common/time";
import { ConnectionBadge, ConnectionBanner, shortId, Slot, useThrottled } from "../common";
import { useLiveSocket } from "../socket";
import type { OverviewConfig, StatsWindow, WorkflowStats } from "../types";
import { Chart } from "./Chart";

const REFRESH_MS = 2000;
const ROLL_MS = 30000;
const COLOURS = {
  started: "#2f5bd3",
  completed: "#1d8a4e",
  compensated: "#7c3aed",
  stuck: "#c23a3a",
  cancelled: "#6b7385",
};

function percent(rate: number | null): string {
  return rate === null ? "—" : `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)}%`;
}

function windowLabel(minutes: number): string {
  return minutes < 60 ? `${minutes} min` : minutes < 1440 ? `${minutes / 60} h` : `${minutes / 1440} d`;
}

export function Overview({ config }: { config: OverviewConfig }) {
  const [stats, setStats] = useState<WorkflowStats>(config.stats);
  const [minutes, setMinutes] = useState<StatsWindow>(config.stats.window.minutes);
  const [problem, setProblem] = useState<string | null>(null);
  const asked = useRef(0);
  const now = useNow(1000);

  const load = (window: StatsWindow) => {
    const ticket = ++asked.current;
    const path = { slug: config.stats.workflow };
    ok(client.GET("/api/workflows/{slug}/stats/", { params: { path, query: { minutes: window } } }))
      .then((answer) => {
        // The schema leaves the figures open; they are as WorkflowStats says.
        const fresh = answer as unknown as WorkflowStats;
        // An older answer arriving late never replaces a newer one.
        if (ticket === asked.current) setStats(fresh);
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(messageOf(err)));
  };
  const refresh = useThrottled(() => load(minutes), REFRESH_MS);

  useEffect(() => {
    const timer = window.setInterval(refresh, ROLL_MS);
    return () => window.clearInterval(timer);
  }, [refresh]);

  // A snapshot comes with every connect: what changed before it is read again too.
  const status = useLiveSocket(config.ws, { onEvents: refresh, onSnapshot: refresh });

  const choose = (window: StatsWindow) => {
    setMinutes(window);
    const url = new URL(document.location.href);
    url.searchParams.set("minutes", String(window));
    history.replaceState(null, "", url);
    load(window);
  };

  const attempts = stats.steps.reduce((n, s) => n + s.attempts, 0);
  const retried = stats.steps.reduce((n, s) => n + s.retried, 0);
  const timed = stats.steps.filter((s) => s.p50_ms !== null);
  const runUrl = (id: string) => config.run_url.replace("00000000-0000-0000-0000-000000000000", id);
  const perMinute = stats.window.bucket_minutes;
  const rate = stats.runs_per_minute;

  return (
    <div className="overview" data-live={status.state}>
      <Slot id="live-indicator">
        <ConnectionBadge status={status} />
      </Slot>
      <ConnectionBanner status={status} />
      {problem && <p className="alert alert-error">The figures could not be read again: {problem}</p>}

      <div className="overview-bar">
        <div className="segmented" role="group" aria-label="Window">
          {stats.window.choices
            .slice()
            .sort((a, b) => a - b)
            .map((choice) => (
              <button
                key={choice}
                type="button"
                className={`btn btn-small${choice === minutes ? " is-on" : ""}`}
                aria-pressed={choice === minutes}
                onClick={() => choose(choice)}
              >
                {windowLabel(choice)}
              </button>
            ))}
        </div>
        <span className="muted">Runs started in the last {windowLabel(stats.window.minutes)}, as they stand now.</span>
      </div>

      <div className="stats tiles">
        <Tile
          label="Runs per minute"
          value={rate === null ? "—" : rate.toFixed(rate < 10 ? 2 : 0)}
          note={stats.rate_minutes ? `started, last ${stats.rate_minutes} whole min` : "not a whole minute since the first run"}
          name="rpm"
        />
        <Tile label="Started" value={String(stats.started)} name="started" />
        <Tile label="Completed" value={percent(stats.rates.completed)} sub={`${stats.standing.completed}`} name="completed" tone="good" />
        <Tile label="Compensated" value={percent(stats.rates.compensated)} sub={`${stats.standing.compensated}`} name="compensated" tone="comp" />
        <Tile label="Stuck" value={percent(stats.rates.stuck)} sub={`${stats.standing.stuck}`} name="stuck" tone={stats.standing.stuck ? "bad" : undefined} />
        <Tile label="Active now" value={String(stats.active)} name="active" />
        <Tile label="Stuck now" value={String(stats.stuck_now)} name="stuck-now" tone={stats.stuck_now ? "bad" : undefined} />
      </div>

      <div className="grid-2">
        <section className="card">
          <div className="card-head">
            <h2>Runs per minute</h2>
            <span className="muted">{perMinute > 1 ? `averaged over ${perMinute} min` : "each minute"}</span>
          </div>
          <RunsChart stats={stats} />
        </section>
        <section className="card">
          <div className="card-head">
            <h2>Step latency</h2>
            <span className="muted">p50 · p95 · p99, log scale</span>
          </div>
          {timed.length ? <LatencyChart stats={stats} /> : <p className="muted empty-line">No step has finished in this window.</p>}
        </section>
      </div>

      <section className="card card-flush">
        <div className="card-head">
          <h2>Steps</h2>
          {attempts > 0 && (
            <span className="muted" data-testid="retried-total">
              {attempts} attempt{attempts === 1 ? "" : "s"}, {retried} retried ({percent(retried / attempts)})
            </span>
          )}
        </div>
        {stats.steps.length ? (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Steps">
            <table className="table table-compact latency-table">
              <thead>
                <tr>
                  <th>Step</th>
                  <th className="num">Attempts</th>
                  <th className="num">Retried</th>
                  <th className="num">Failed</th>
                  <th className="num">p50</th>
                  <th className="num">p95</th>
                  <th className="num">p99</th>
                </tr>
              </thead>
              <tbody>
                {stats.steps.map((step) => (
                  <tr key={step.step} data-step={step.step}>
                    <td><span className="strong">{step.name || step.step}</span> <code>{step.step}</code></td>
                    <td className="num" data-col="attempts">{step.attempts}</td>
                    <td className="num" data-col="retried">
                      {step.retried ? (
                        <>
                          {step.retried} <span className="muted">({percent(step.retry_rate)})</span>
                        </>
                      ) : (
                        <span className="muted">0</span>
                      )}
                    </td>
                    <td className="num" data-col="failed">{step.failed || <span className="muted">0</span>}</td>
                    <td className="num">{latency(step.p50_ms)}</td>
                    <td className="num">{latency(step.p95_ms)}</td>
                    <td className="num">{latency(step.p99_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted empty-line">No step has run in this window.</p>
        )}
      </section>

      <section className="card card-flush">
        <div className="card-head">
          <h2>Stuck runs</h2>
          <a href={`${config.board_url}&status=stuck`}>on the board</a>
        </div>
        {stats.stuck_runs.length ? (
          <div className="table-scroll">
            <table className="table table-compact stuck-table">
              <thead>
                <tr><th>Run</th><th>Stuck at</th><th>Error</th><th className="num">Stuck for</th></tr>
              </thead>
              <tbody>
                {stats.stuck_runs.map((run) => (
                  <tr key={run.id} data-run={run.id}>
                    <td><a className="strong mono" href={runUrl(run.id)}>{shortId(run.id)}</a> <span className="muted">v{run.version}</span></td>
                    <td>{run.stuck_step ? <code>{run.stuck_step}</code> : <span className="muted">no progress</span>}</td>
                    <td className="clip error-text">{run.stuck_error ?? "—"}</td>
                    <td className="num">{ago(run.stuck_since, now).replace(" ago", "")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="empty-line"><span className="ok-dot" aria-hidden="true" /> No run is stuck.</p>
        )}
      </section>
    </div>
  );
}

interface TileProps {
  label: string;
  value: string;
  /** A count of runs, said under the value. */
  sub?: string;
  /** Or what the value is of, in words. */
  note?: string;
  name: string;
  tone?: string;
}

function Tile({ label, value, sub, note, name, tone }: TileProps) {
  return (
    <div className={`stat tile${tone ? ` tone-${tone}` : ""}`} data-tile={name}>
      <span className="stat-label">{label}</span>
      <span className="stat-value tile-value">{value}</span>
      {sub !== undefined && <span className="tile-sub muted">{sub} run{sub === "1" ? "" : "s"}</span>}
      {note !== undefined && <span className="tile-sub muted">{note}</span>}
    </div>
  );
}

function RunsChart({ stats }: { stats: WorkflowStats }) {
  const bucket = stats.window.bucket_minutes;
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        {
          stroke: "#6b7385",
          grid: { stroke: "#eef0f3" },
          values: (_u, splits, _axis, _space, incr) => tickLabels(splits, incr),
        },
        { stroke: "#6b7385", grid: { stroke: "#eef0f3" }, size: 44 },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        // A point is a bucket: the legend names the minute it starts at.
        { label: bucket > 1 ? `${bucket} min from` : "Minute", value: (_u, v) => (v === null || v === undefined ? "—" : minuteStamp(v * 1000)) },
        {
          label: "started",
          stroke: COLOURS.started,
          fill: "rgba(47, 91, 211, 0.18)",
          width: 1,
          paths: uPlot.paths.bars?.({ size: [0.8, 24], align: 0 }),
          points: { show: false },
          value: perMinute,
        },
        { label: "completed", stroke: COLOURS.completed, width: 2, value: perMinute },
        { label: "compensated", stroke: COLOURS.compensated, width: 2, value: perMinute },
        { label: "stuck", stroke: COLOURS.stuck, width: 2, value: perMinute },
        { label: "cancelled", stroke: COLOURS.cancelled, width: 1, dash: [4, 4], value: perMinute },
      ],
    }),
    [bucket],
  );
  const data = useMemo<uPlot.AlignedData>(() => {
    const s = stats.series;
    const rate = (values: number[]) => values.map((v) => v / bucket);
    return [s.t, rate(s.started), rate(s.completed), rate(s.compensated), rate(s.stuck), rate(s.cancelled)];
  }, [stats, bucket]);
  // Not hovering: the last whole bucket (the one holding now is still filling).
  const until = Date.parse(stats.window.until) / 1000;
  const rest = (d: uPlot.AlignedData) => {
    const t = d[0];
    for (let i = t.length - 1; i >= 0; i--) if (t[i] + bucket * 60 <= until) return i;
    return t.length ? t.length - 1 : null;
  };
  return (
    <Chart
      options={options}
      data={data}
      rest={rest}
      height={240}
      label="Runs started, completed, compensated, stuck and cancelled per minute"
    />
  );
}

/** A legend's value of a rate per minute: whole counts as they are, averages to 0.01. */
function perMinute(_u: uPlot, v: number | null): string {
  return v === null || v === undefined ? "—" : Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** A legend's value of a latency, in the words of the table below. */
function ms(_u: uPlot, v: number | null): string {
  return v === null || v === undefined ? "—" : latency(v);
}

function LatencyChart({ stats }: { stats: WorkflowStats }) {
  // The steps one of whose attempts has ended: the others have no latency yet.
  const steps = useMemo(() => stats.steps.filter((s) => s.p50_ms !== null), [stats]);
  const names = steps.map((s) => s.step);
  const key = names.join("\u0000");
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(() => {
    const bars = uPlot.paths.bars;
    const shape = (factor: number) => (bars ? bars({ size: [factor, 90], align: 0 }) : undefined);
    const steps = key.split("\u0000");
    return {
      scales: {
        x: { time: false, range: [-0.5, steps.length - 0.5] },
        // A decade below the fastest, so that the shortest bar still shows.
        y: {
          distr: 3,
          log: 10,
          range: (_u, min, max) => [
            10 ** (Math.floor(Math.log10(Math.max(min, 1))) - 1),
            10 ** Math.ceil(Math.log10(Math.max(max, 10))),
          ],
        },
      },
      axes: [
        {
          stroke: "#6b7385",
          grid: { show: false },
          splits: () => steps.map((_, i) => i),
          values: (_u, splits) => splits.map((i) => steps[i] ?? ""),
        },
        {
          stroke: "#6b7385",
          grid: { stroke: "#eef0f3" },
          size: 60,
          // uPlot leaves out (null) the labels of a log axis that would crowd.
          values: (_u, splits) =>
            splits.map((v) => (v === null || v === undefined ? "" : v >= 1000 ? `${v / 1000} s` : `${v} ms`)),
        },
      ],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      // Nested bars: p99 widest behind, p50 narrowest in front.
      series: [
        { label: "Step", value: (_u, v) => (v === null ? "—" : (steps[v] ?? "")) },
        { label: "p99", fill: "rgba(194, 58, 58, 0.35)", stroke: "#c23a3a", paths: shape(0.7), points: { show: false }, value: ms },
        { label: "p95", fill: "rgba(227, 162, 26, 0.55)", stroke: "#b7791f", paths: shape(0.5), points: { show: false }, value: ms },
        { label: "p50", fill: "rgba(47, 91, 211, 0.85)", stroke: "#2449ae", paths: shape(0.3), points: { show: false }, value: ms },
      ],
    };
  }, [key]);
  const data = useMemo<uPlot.AlignedData>(() => {
    // A log scale has no zero: a latency under a millisecond is drawn as one.
    const at = (v: number) => Math.max(v, 1);
    return [
      steps.map((_, i) => i),
      steps.map((s) => at(s.p99_ms ?? 0)),
      steps.map((s) => at(s.p95_ms ?? 0)),
      steps.map((s) => at(s.p50_ms ?? 0)),
    ];
  }, [steps]);
  // Not hovering: the slowest step (the highest p99).
  const rest = (d: uPlot.AlignedData) => {
    const p99 = d[1] as number[];
    return p99.length ? p99.indexOf(Math.max(...p99)) : null;
  };
  return <Chart options={options} data={data} rest={rest} height={240} label="Latency percentiles of each step" />;
}
