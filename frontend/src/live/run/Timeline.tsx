// The run's timeline (a Gantt chart): one row per step, one bar per attempt,
// wait and compensation, from the first event to the last (or to now while the
// run goes on). A long stretch in which nothing ran (a run stuck for hours) is a
// gap drawn short and labelled, so that the attempts around it keep their width;
// the reader may zoom in, and draw idle time to scale. A bar says its latency and
// error on hover and focus; a click pins the details below the chart.
import { useEffect, useMemo, useRef, useState } from "react";
import { clock, duration, latency, useNow } from "../../common/time";
import { Clamped } from "../common";
import type { StepRow, RunEvent } from "../types";
import { timelineBars, timeScale, type Bar, type Stretch, type TimeScale } from "./model";

const ZOOMS = [1, 2, 4, 8, 16] as const;

const KIND_WORDS = { attempt: "attempt", wait: "waiting", compensation: "compensation" } as const;
const OUTCOME_WORDS: Record<Bar["outcome"], string> = {
  running: "in progress",
  succeeded: "succeeded",
  failed: "failed",
  retry: "failed, retried",
  skipped: "skipped",
  compensated: "compensated",
  cut: "ended",
};

function describe(bar: Bar): string {
  const what = bar.kind === "wait" ? "waiting" : `${KIND_WORDS[bar.kind]} ${bar.attempt ?? ""}`.trim();
  const took = bar.end === null ? "" : ` after ${latency(bar.latencyMs)}`;
  return `${bar.step}: ${what} ${OUTCOME_WORDS[bar.outcome]}${took}${bar.error ? ` — ${bar.error}` : ""}`;
}

const TICK_STEPS = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];

/** Room, in px, that an axis label takes ("+250 ms"), and a gap's ("stuck 18 min"). */
const TICK_PX = 64;
const GAP_LABEL_PX = 90;

/** The axis' labels (ms since the start, and where they are drawn): as many as the track's
 * ``width`` (px) has room for in the time drawn to scale, none crowding another or a gap's
 * label. */
function ticks(scale: TimeScale, start: number, width: number): { t: number; x: number }[] {
  const scaled = scale.stretches.filter((s) => !s.gap);
  const total = scaled.reduce((n, s) => n + s.to - s.from, 0);
  const room = (TICK_PX / Math.max(width, 1)) * 100;
  const most = Math.max(1, Math.floor(100 / room) - 1);
  const every = TICK_STEPS.find((s) => total / s <= most) ?? total / most;
  const label = (GAP_LABEL_PX / Math.max(width, 1)) * 100;
  // Where each gap's label lies, from its left to its right, in %.
  const taken = scale.stretches
    .filter((s) => s.gap)
    .map((g): [number, number] => (gapAtEnd(g) ? [g.x1 - label, g.x1] : [(g.x0 + g.x1 - label) / 2, (g.x0 + g.x1 + label) / 2]));
  const out: { t: number; x: number }[] = [];
  for (const stretch of scaled) {
    for (let t = Math.ceil((stretch.from - start) / every) * every; start + t <= stretch.to; t += every) {
      const x = scale.x(start + t);
      const last = out.length ? out[out.length - 1].x : -Infinity;
      const clear = taken.every(([from, to]) => x + room < from || x > to);
      if (x - last >= room && x <= 100 - room / 3 && clear) out.push({ t, x });
    }
  }
  return out;
}

/** A gap at the end of the track: its label ends where it does, rather than past it. */
function gapAtEnd(gap: Stretch): boolean {
  return gap.x1 > 90;
}

/** "18 min", "2 h 5 min", "40 s": a gap's length, short enough for its label. */
function roughly(ms: number): string {
  return duration(ms).replace(/^(\d+ (?:min|h|d)) \d+ (?:s|min|h)$/, "$1");
}

function gapWords(gap: Stretch): string {
  return `${gap.gap === "stuck" ? "stuck" : "nothing ran"} ${roughly(gap.to - gap.from)}`;
}

export function Timeline({ events, steps, live }: { events: RunEvent[]; steps: StepRow[]; live: boolean }) {
  const now = useNow(live ? 1000 : 0);
  const bars = useMemo(() => timelineBars(events), [events]);
  const [pinned, setPinned] = useState<string | null>(null);
  const [zoom, setZoom] = useState<(typeof ZOOMS)[number]>(1);
  const [toScale, setToScale] = useState(false);
  // The track's width on screen, for how many labels its axis has room.
  const axis = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const drawn = bars.length > 0;
  useEffect(() => {
    const el = axis.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    setWidth(el.clientWidth);
    return () => observer.disconnect();
  }, [drawn]);
  if (!bars.length) {
    return <p className="muted empty-line">Nothing has run yet.</p>;
  }
  const start = Math.min(...bars.map((b) => b.start), Date.parse(events[0].at));
  const lastEvent = Date.parse(events[events.length - 1].at);
  const open = bars.some((b) => b.end === null);
  const end = Math.max(lastEvent, ...bars.map((b) => b.end ?? 0), open || live ? now : 0);
  const span = Math.max(end - start, 1);
  const compressed = timeScale(bars, events, start, end, true);
  const scale = toScale ? timeScale(bars, events, start, end, false) : compressed;
  const pct = scale.x;
  const gaps = scale.stretches.filter((s) => s.gap);
  const zoomAt = ZOOMS.indexOf(zoom);
  const byStep = new Map<string, Bar[]>();
  for (const bar of bars) byStep.set(bar.step, [...(byStep.get(bar.step) ?? []), bar]);
  const detail = bars.find((b) => b.key === pinned) ?? null;

  return (
    <div className="timeline" data-bars={bars.length} data-zoom={zoom}>
      <div className="timeline-tools">
        <span className="timeline-zoom" role="group" aria-label="Zoom">
          <button
            type="button"
            className="btn btn-small"
            aria-label="Zoom out"
            disabled={zoomAt === 0}
            onClick={() => setZoom(ZOOMS[Math.max(zoomAt - 1, 0)])}
          >
            −
          </button>
          <span className="timeline-zoom-level" aria-live="polite">
            {zoom * 100}%
          </span>
          <button
            type="button"
            className="btn btn-small"
            aria-label="Zoom in"
            disabled={zoomAt === ZOOMS.length - 1}
            onClick={() => setZoom(ZOOMS[Math.min(zoomAt + 1, ZOOMS.length - 1)])}
          >
            +
          </button>
        </span>
        {compressed.stretches.some((s) => s.gap) && (
          <label className="timeline-to-scale">
            <input type="checkbox" checked={toScale} onChange={(e) => setToScale(e.target.checked)} /> Idle time to scale
          </label>
        )}
      </div>
      <div className="timeline-scroll">
        <div className="timeline-chart" style={{ width: `calc(var(--label) + (100% - var(--label)) * ${zoom})` }}>
          <div className="timeline-axis" aria-hidden="true">
            <span className="timeline-label" />
            <div className="timeline-track" ref={axis}>
              {ticks(scale, start, width).map(({ t, x }) => (
                <span key={t} className="timeline-tick" style={{ left: `${x}%` }}>
                  +{duration(t)}
                </span>
              ))}
              {gaps.map((gap) => (
                <span
                  key={gap.from}
                  className={`timeline-gap-label${gapAtEnd(gap) ? " at-end" : ""}`}
                  data-gap={gap.gap}
                  style={{ left: `${gapAtEnd(gap) ? gap.x1 : (gap.x0 + gap.x1) / 2}%` }}
                >
                  {gapWords(gap)}
                </span>
              ))}
            </div>
          </div>
          {steps.map((step) => (
            <div key={step.id} className="timeline-row" data-step={step.id}>
              <span className="timeline-label" title={step.name || step.id}>
                {step.name || step.id}
              </span>
              <div className="timeline-track">
                {gaps.map((gap) => (
                  <span
                    key={gap.from}
                    className={`timeline-gap gap-${gap.gap}`}
                    style={{ left: `${gap.x0}%`, width: `${gap.x1 - gap.x0}%` }}
                    aria-hidden="true"
                  />
                ))}
                {(byStep.get(step.id) ?? []).map((bar) => {
                  const left = pct(bar.start);
                  const width = Math.max(pct(bar.end ?? now) - left, 0);
                  const text = describe(bar);
                  return (
                    <button
                      type="button"
                      key={bar.key}
                      className={`timeline-bar bar-${bar.kind} out-${bar.outcome}${pinned === bar.key ? " is-pinned" : ""}`}
                      data-kind={bar.kind}
                      data-outcome={bar.outcome}
                      data-step={bar.step}
                      style={{ left: `${left}%`, width: `max(${width}%, 4px)` }}
                      title={text}
                      aria-label={text}
                      onClick={() => setPinned(pinned === bar.key ? null : bar.key)}
                    />
                  );
                })}
              </div>
            </div>
          ))}
        </div>
      </div>
      <div className="timeline-foot">
        <ul className="timeline-legend" aria-label="Legend">
          <li><span className="swatch bar-attempt out-succeeded" /> attempt</li>
          <li><span className="swatch bar-attempt out-failed" /> failed attempt</li>
          <li><span className="swatch bar-wait" /> waiting</li>
          <li><span className="swatch bar-compensation out-compensated" /> compensation</li>
          {gaps.length > 0 && <li><span className="swatch timeline-gap gap-stuck" /> drawn short</li>}
        </ul>
        <p className="timeline-detail" aria-live="polite">
          {detail ? describe(detail) : `${bars.length} bar${bars.length === 1 ? "" : "s"} over ${duration(span)}. Click one for its details.`}
        </p>
        {gaps.length > 0 && (
          <p className="timeline-gaps" data-gaps={gaps.length}>
            Drawn short:{" "}
            {gaps.map((gap, i) => (
              <span key={gap.from} data-gap={gap.gap}>
                {i ? "; " : ""}
                {gap.gap === "stuck" ? "stuck" : "nothing ran"} for {duration(gap.to - gap.from)}, from {clock(new Date(gap.from).toISOString())}
                {gap.to >= end && live ? " to now" : ` to ${clock(new Date(gap.to).toISOString())}`}
              </span>
            ))}
            .
          </p>
        )}
      </div>
      <Failures bars={bars} />
    </div>
  );
}

/** The errors of the timeline, as text (a bar's hover is no place to read a stack). */
function Failures({ bars }: { bars: Bar[] }) {
  const failed = bars.filter((b) => b.error);
  if (!failed.length) return null;
  return (
    <details className="timeline-failures" open={failed.length <= 4}>
      <summary>
        {failed.length} failed attempt{failed.length === 1 ? "" : "s"} or compensation{failed.length === 1 ? "" : "s"}
      </summary>
      <ul>
        {failed.map((bar) => (
          <li key={bar.key} data-step={bar.step} data-kind={bar.kind}>
            <code>{bar.step}</code> {bar.kind === "compensation" ? "compensation" : "attempt"} {bar.attempt ?? ""}
            <span className="muted"> · {latency(bar.latencyMs)}</span>
            {bar.error && (
              <>
                {" "}
                <Clamped className="error-text" text={bar.error} />
              </>
            )}
          </li>
        ))}
      </ul>
    </details>
  );
}
