// The run's timeline (a Gantt chart): one row per step, one bar per attempt,
// wait and compensation, from the first event to the last (or to now while the
// run goes on). A bar says its latency and error on hover and focus; a click
// pins the details below the chart.
import { useMemo, useState } from "react";
import { duration, latency, useNow } from "../../common/time";
import { Clamped } from "../common";
import type { StepRow, RunEvent } from "../types";
import { timelineBars, type Bar } from "./model";

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

function ticks(span: number): number[] {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];
  const every = steps.find((s) => span / s <= 6) ?? span / 6;
  const out: number[] = [];
  for (let t = 0; t <= span; t += every) out.push(t);
  return out;
}

export function Timeline({ events, steps, live }: { events: RunEvent[]; steps: StepRow[]; live: boolean }) {
  const now = useNow(live ? 1000 : 0);
  const bars = useMemo(() => timelineBars(events), [events]);
  const [pinned, setPinned] = useState<string | null>(null);
  if (!bars.length) {
    return <p className="muted empty-line">Nothing has run yet.</p>;
  }
  const start = Math.min(...bars.map((b) => b.start), Date.parse(events[0].at));
  const lastEvent = Date.parse(events[events.length - 1].at);
  const open = bars.some((b) => b.end === null);
  const end = Math.max(lastEvent, ...bars.map((b) => b.end ?? 0), open || live ? now : 0);
  const span = Math.max(end - start, 1);
  const pct = (t: number) => ((t - start) / span) * 100;
  const byStep = new Map<string, Bar[]>();
  for (const bar of bars) byStep.set(bar.step, [...(byStep.get(bar.step) ?? []), bar]);
  const detail = bars.find((b) => b.key === pinned) ?? null;

  return (
    <div className="timeline" data-bars={bars.length}>
      <div className="timeline-axis" aria-hidden="true">
        <span className="timeline-label" />
        <div className="timeline-track">
          {ticks(span).map((t) => (
            <span key={t} className="timeline-tick" style={{ left: `${(t / span) * 100}%` }}>
              +{duration(t)}
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
      <div className="timeline-foot">
        <ul className="timeline-legend" aria-label="Legend">
          <li><span className="swatch bar-attempt out-succeeded" /> attempt</li>
          <li><span className="swatch bar-attempt out-failed" /> failed attempt</li>
          <li><span className="swatch bar-wait" /> waiting</li>
          <li><span className="swatch bar-compensation out-compensated" /> compensation</li>
        </ul>
        <p className="timeline-detail" aria-live="polite">
          {detail ? describe(detail) : `${bars.length} bar${bars.length === 1 ? "" : "s"} over ${duration(span)}. Click one for its details.`}
        </p>
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
