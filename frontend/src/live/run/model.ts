// A run as the page holds it: the API's body, moved on by stream events until the
// next read of the API; and the timeline's bars, read from the event log.
import { statusWord } from "../../common/words";
import type { components } from "../../generated/api";
import { TERMINAL } from "../../generated/vocabulary";
import { isRunStatus, isStepStatus, type JsonObject, type RunStatus, type Spec, type StepStatus } from "../../types";
import type { Progress, RunAct, RunBody, RunEvent, StepAct, StepRow } from "../types";

/** A run as the API answers it (GET /api/runs/{id}/, an act): the schema leaves its steps
 * and acts open; they are as RunBody says. */
export function asRunBody(answer: components["schemas"]["Run"]): RunBody {
  return answer as unknown as RunBody;
}

export interface Held {
  run: RunBody;
  events: RunEvent[];
  /** The stream's cursor: the last seq the page has, or knows it need not have. */
  lastSeq: number;
  /** For each map step, the seq its ``iterations`` (progress) in ``run`` are as of: a read
   * of the run or a progress frame of the stream, whichever is newer. */
  counted: Record<string, number>;
}

/** The run and its log as the page starts; ``through``: the last seq the log accounts
 * for, the events of map iterations left out. */
export function hold(run: RunBody, events: RunEvent[], through = 0): Held {
  const lastSeq = Math.max(through, events.length ? events[events.length - 1].seq : 0);
  return { run, events, lastSeq, counted: countedAt(run.steps, run.last_seq, {}) };
}

/** The steps whose progress a read of the run as of ``seq`` brings, stamped with it. */
function countedAt(steps: StepRow[], seq: number, counted: Record<string, number>): Record<string, number> {
  const out = { ...counted };
  for (const step of steps) if (step.iterations && (out[step.id] ?? -1) <= seq) out[step.id] = seq;
  return out;
}

/** An event of one iteration of a map: its step's progress comes with the stream's progress
 * frames and the reads of the run, and its list of iterations a page at a time; the page's
 * log and timeline leave them out. An operator's act on one iteration is no such event. */
export function isIteration(event: RunEvent): boolean {
  return (
    event.data !== null && typeof event.data === "object" && "index" in event.data && !event.event.startsWith("act.")
  );
}

/** A progress frame applied: the cursor moves to its seq, and each map it names takes its
 * counts unless the page already has newer ones. */
export function applyProgress(held: Held, progress: Progress): Held {
  let { run, counted } = held;
  const maps = Object.entries(progress.maps).filter(
    ([step, counts]) => counts !== null && progress.seq > (counted[step] ?? -1),
  );
  if (maps.length) {
    counted = { ...counted };
    const fresh = new Map(maps);
    for (const [step] of maps) counted[step] = progress.seq;
    run = { ...run, steps: run.steps.map((s) => (fresh.has(s.id) ? { ...s, iterations: fresh.get(s.id) ?? null } : s)) };
  }
  if (progress.seq <= held.lastSeq && !maps.length) return held;
  return { ...held, run, counted, lastSeq: Math.max(held.lastSeq, progress.seq) };
}

/** Events after ``lastSeq`` appended, and the statuses they carry applied. */
export function applyEvents(held: Held, incoming: RunEvent[]): Held {
  const arrived = incoming.filter((e) => e.seq > held.lastSeq).sort((a, b) => a.seq - b.seq);
  if (!arrived.length) return held;
  const fresh = arrived.filter((e) => !isIteration(e));
  if (!fresh.length) return { ...held, lastSeq: arrived[arrived.length - 1].seq };
  let run = held.run;
  const steps = new Map(run.steps.map((s) => [s.id, s]));
  for (const event of fresh) {
    // A body read after this event already holds what it changed.
    if (event.seq <= held.run.last_seq) continue;
    if (event.step === null || event.event.startsWith("act.")) {
      // A run event, or an act: its status is the run's, once the act played out.
      if (isRunStatus(event.status)) run = { ...run, status: event.status, updated_at: event.at };
      continue;
    }
    const step = steps.get(event.step);
    if (!step || !isStepStatus(event.status)) continue;
    const changed: StepRow = { ...step, status: event.status };
    const compensation = event.event.includes("compensat") || event.status === "compensating";
    if (event.attempt !== null && !compensation) {
      changed.attempts = Math.max(step.attempts, event.attempt);
    }
    if (event.event === "step.started") {
      changed.started_at = step.started_at ?? event.at;
      changed.error = "";
    }
    if (event.latency_ms !== null) changed.latency_ms = event.latency_ms;
    if (event.error) changed.error = event.error;
    if (event.event === "step.skipped") {
      changed.skip = event.data.compensation ? "compensation" : event.data.reason === "condition" ? "condition" : "step";
    }
    steps.set(event.step, changed);
  }
  const last = arrived[arrived.length - 1].seq;
  run = { ...run, steps: run.steps.map((s) => steps.get(s.id) ?? s), last_seq: Math.max(run.last_seq, last) };
  return { ...held, run, events: [...held.events, ...fresh], lastSeq: last };
}

/** A fresh read of the run replaces what events had moved on; nothing older wins (a map's
 * progress from a frame newer than the read stays). */
export function applyBody(held: Held, body: RunBody): Held {
  if (body.last_seq < held.run.last_seq) return held;
  const newer = new Map(held.run.steps.filter((s) => (held.counted[s.id] ?? -1) > body.last_seq).map((s) => [s.id, s.iterations]));
  const steps = newer.size ? body.steps.map((s) => (newer.has(s.id) ? { ...s, iterations: newer.get(s.id) ?? s.iterations } : s)) : body.steps;
  return { ...held, run: { ...body, steps }, counted: countedAt(body.steps, body.last_seq, held.counted) };
}

/** What a step's templates may refer to: ``input``, each step's ``output``, ``run.id``. */
export function context(run: RunBody): JsonObject {
  const steps: JsonObject = {};
  for (const step of run.steps) {
    if (step.output !== null && step.output !== undefined) steps[step.id] = { output: step.output };
  }
  return { input: run.input, steps, run: { id: run.id } };
}

/** An approval gate's group and instructions, from the run's version; null for other steps. */
export function gateOf(spec: Spec, step: string): { group: string; instructions: string } | null {
  const found = spec.steps.find((s) => s.id === step);
  if (!found || found.type !== "approval") return null;
  const action = found.action ?? {};
  return {
    group: typeof action.group === "string" ? action.group : "",
    instructions: typeof action.instructions === "string" ? action.instructions : "",
  };
}

/** A step's status in words, as the run stands: a step a run ended without reaching
 * is "not reached" (not "pending", which says it may yet run), and a skip says what was
 * skipped. */
export function stepWord(step: Pick<StepRow, "status" | "skip">, run: RunStatus): string {
  if (step.status === "pending" && TERMINAL.has(run)) return "not reached";
  if (step.status === "skipped" && step.skip === "compensation") return "compensation skipped";
  if (step.status === "skipped" && step.skip === "condition") return "skipped by condition";
  return statusWord(step.status);
}

/** Why a step was not taken, in words: its condition's value, or the branch it is on;
 * null for a step that was not skipped by its condition. */
export function notTaken(step: Pick<StepRow, "id" | "status" | "skip">, spec: Spec, events: RunEvent[]): string | null {
  if (step.status !== "skipped" || step.skip !== "condition") return null;
  const skipped = events.find((e) => e.step === step.id && e.event === "step.skipped");
  if (skipped?.data.dead_path) return "not taken: no step before it ran";
  const when = spec.steps.find((s) => s.id === step.id)?.when;
  return when ? `not taken: ${when} was false` : "not taken: its condition was false";
}

/** The order in which the steps tile counts statuses: where the steps got to first (a
 * status left out is counted after these). */
const COUNTED: readonly StepStatus[] = [
  "succeeded",
  "skipped",
  "compensated",
  "failed",
  "compensation_failed",
  "compensating",
  "running",
  "retrying",
  "waiting",
  "pending",
];

/** What the run's steps came to: how many ran (made at least one attempt) and how many
 * stand in each status now, in ``COUNTED`` order, zeros left out. */
export function stepTally(steps: StepRow[]): { ran: number; total: number; counts: [StepStatus, number][] } {
  const by = new Map<StepStatus, number>();
  for (const step of steps) by.set(step.status, (by.get(step.status) ?? 0) + 1);
  const counts = COUNTED.filter((s) => by.get(s)).map((s): [StepStatus, number] => [s, by.get(s) ?? 0]);
  for (const [status, n] of by) if (!COUNTED.includes(status)) counts.push([status, n]);
  return { ran: steps.filter((s) => s.attempts > 0).length, total: steps.length, counts };
}

const ACT_VERBS: Record<StepAct | RunAct, string> = {
  retry: "retry",
  skip: "skip",
  approve: "approve",
  reject: "reject",
  compensate: "compensate",
  cancel: "cancel",
};

/** "a", "a or b", "a, b or c". */
export function orList(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`;
}

/** The acts on a stuck run that the user may do now, from the acts the server offers (the
 * same list the buttons come from): the stuck step's, then the run's. Empty when none. */
export function stuckActs(run: RunBody, step: string | null): { step: string[]; run: string[] } {
  const stepActs = step ? (run.acts.steps[step] ?? []) : [];
  return { step: stepActs.map((a) => ACT_VERBS[a]), run: run.acts.run.map((a) => ACT_VERBS[a]) };
}

// --- the timeline ----------------------------------------------------------------------------

export type BarKind = "attempt" | "wait" | "compensation";
export type Outcome =
  | "running"
  | "succeeded"
  | "failed"
  | "retry"
  | "skipped"
  | "compensated"
  | "cut";

export interface Bar {
  key: string;
  step: string;
  kind: BarKind;
  attempt: number | null;
  start: number;
  /** null while it lasts. */
  end: number | null;
  outcome: Outcome;
  latencyMs: number | null;
  error: string | null;
}

/** Every attempt, wait and compensation of each step, from the log, in order. */
export function timelineBars(events: RunEvent[]): Bar[] {
  const bars: Bar[] = [];
  const open = new Map<string, Bar>();
  const close = (step: string, at: number, outcome: Outcome, event?: RunEvent) => {
    const bar = open.get(step);
    if (!bar) return null;
    open.delete(step);
    bar.end = at;
    bar.outcome = outcome;
    bar.latencyMs = event?.latency_ms ?? at - bar.start;
    bar.error = event?.error ?? null;
    return bar;
  };
  const begin = (event: RunEvent, kind: BarKind, at: number) => {
    const step = event.step as string;
    close(step, at, "cut");
    const bar: Bar = {
      key: `${event.seq}`,
      step,
      kind,
      attempt: event.attempt,
      start: at,
      end: null,
      outcome: "running",
      latencyMs: null,
      error: null,
    };
    open.set(step, bar);
    bars.push(bar);
  };
  for (const event of events) {
    if (!event.step || event.event.startsWith("act.")) continue;
    const at = Date.parse(event.at);
    const step = event.step;
    switch (event.event) {
      case "step.started":
        begin(event, "attempt", at);
        break;
      case "step.waiting":
        // An approval, a delay, or a callback whose call was made: waiting, not working.
        close(step, at, "succeeded");
        begin(event, "wait", at);
        break;
      case "step.compensation_started":
        begin(event, "compensation", at);
        break;
      case "step.succeeded":
        close(step, at, "succeeded", event) ?? marker(bars, event, "attempt", "succeeded", at);
        break;
      case "step.failed":
        close(step, at, "failed", event) ?? marker(bars, event, "attempt", "failed", at);
        break;
      case "step.retry_scheduled":
        close(step, at, "retry", event);
        break;
      case "step.skipped":
        close(step, at, "skipped", event) ?? marker(bars, event, "attempt", "skipped", at);
        break;
      case "step.compensated":
        close(step, at, "compensated", event);
        break;
      case "step.compensation_failed":
        close(step, at, "failed", event);
        break;
      default:
        break;
    }
  }
  return bars;
}

function marker(bars: Bar[], event: RunEvent, kind: BarKind, outcome: Outcome, at: number): Bar {
  const bar: Bar = {
    key: `${event.seq}`,
    step: event.step as string,
    kind,
    attempt: event.attempt,
    start: at,
    end: at,
    outcome,
    latencyMs: event.latency_ms,
    error: event.error,
  };
  bars.push(bar);
  return bar;
}

// --- the timeline's time axis ------------------------------------------------------------

/** A stretch of the timeline's axis: time drawn to scale, or a gap in which nothing ran,
 * drawn short and labelled ("stuck 18 min"), so that hours stuck do not squeeze the
 * attempts around them into slivers. ``x0``, ``x1``: where it is drawn, in % of the track. */
export interface Stretch {
  from: number;
  to: number;
  gap: "stuck" | "idle" | null;
  x0: number;
  x1: number;
}

export interface TimeScale {
  stretches: Stretch[];
  /** Where time ``t`` is drawn, in % of the track. */
  x: (t: number) => number;
}

/** Idle time shorter than this is always drawn to scale. */
const GAP_MIN_MS = 10_000;
/** The width of a gap drawn short, in % of the track (less when there are many). */
const GAP_PCT = 7;

/** The timeline's axis from ``start`` to ``end``: to scale, except (with ``compress``) the
 * stretches in which no attempt, wait or compensation was under way and nothing happened
 * that are longer than all the rest of the run put together; those are gaps drawn short,
 * said to be "stuck" when the run was stuck then. */
export function timeScale(bars: Bar[], events: RunEvent[], start: number, end: number, compress: boolean): TimeScale {
  const busy: [number, number][] = [
    ...bars.map((b): [number, number] => [b.start, b.end ?? end]),
    ...events.map((e): [number, number] => [Date.parse(e.at), Date.parse(e.at)]),
  ].sort((a, b) => a[0] - b[0]);
  // The stretches in which nothing was under way, and whether the run was stuck then.
  const idle: { from: number; to: number; stuck: boolean }[] = [];
  let reached = start;
  for (const [from, to] of busy) {
    if (from > reached) idle.push({ from: reached, to: from, stuck: false });
    reached = Math.max(reached, to);
  }
  if (end > reached) idle.push({ from: reached, to: end, stuck: false });
  let stuck = false;
  let i = 0;
  for (const event of events) {
    const at = Date.parse(event.at);
    while (i < idle.length && idle[i].from < at) idle[i++].stuck = stuck;
    if (event.step === null || event.event.startsWith("act.")) stuck = event.status === "stuck";
  }
  while (i < idle.length) idle[i++].stuck = stuck;

  const span = Math.max(end - start, 1);
  const gaps: typeof idle = [];
  if (compress) {
    let drawn = span;
    for (const stretch of [...idle].sort((a, b) => b.to - b.from - (a.to - a.from))) {
      const length = stretch.to - stretch.from;
      if (length >= GAP_MIN_MS && length > drawn - length) {
        gaps.push(stretch);
        drawn -= length;
      }
    }
    gaps.sort((a, b) => a.from - b.from);
  }
  const gapPct = gaps.length ? Math.min(GAP_PCT, 30 / gaps.length) : 0;
  const scaled = span - gaps.reduce((n, g) => n + g.to - g.from, 0);
  const perMs = (100 - gapPct * gaps.length) / Math.max(scaled, 1);
  const stretches: Stretch[] = [];
  let t = start;
  let x = 0;
  const add = (from: number, to: number, gap: Stretch["gap"]) => {
    if (to <= from && gap === null) return;
    const width = gap ? gapPct : (to - from) * perMs;
    stretches.push({ from, to, gap, x0: x, x1: x + width });
    x += width;
  };
  for (const g of gaps) {
    add(t, g.from, null);
    add(g.from, g.to, g.stuck ? "stuck" : "idle");
    t = g.to;
  }
  add(t, end, null);
  const scale = (at: number): number => {
    if (at <= start) return 0;
    for (const s of stretches) {
      if (at <= s.to) return s.x0 + ((at - s.from) / Math.max(s.to - s.from, 1)) * (s.x1 - s.x0);
    }
    return 100;
  };
  return { stretches, x: scale };
}
