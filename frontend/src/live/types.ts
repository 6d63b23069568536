// The live pages' payloads: stream frames (engine/consumers.py), the run API
// (engine/serializers.py) and the overview's figures (engine/stats.py), named
// as the server names them.
import type { Json, JsonObject, Layout, RunStatus, Spec, StepStatus } from "../types";

export type { RunStatus, StepStatus } from "../types";

export const TERMINAL: ReadonlySet<string> = new Set(["completed", "compensated", "cancelled"]);

/** One event of a run's log, as the stream sends it (DESIGN.md), and the API with ``data``. */
export interface StreamEvent {
  type?: "event";
  run: string;
  workflow?: string;
  seq: number;
  event: string;
  step: string | null;
  status: string;
  attempt: number | null;
  at: string;
  latency_ms: number | null;
  error: string | null;
  actor: string | null;
  /** The run's status once the event committed; null in a replay from the log. */
  run_status?: string | null;
  data?: JsonObject;
}

export interface SnapshotRun {
  run: string;
  workflow: string;
  status: RunStatus;
  last_seq: number;
  updated_at: string;
}

export type Frame =
  | (StreamEvent & { type: "event" })
  | { type: "batch"; events: StreamEvent[] }
  | { type: "snapshot"; runs: SnapshotRun[]; truncated: boolean }
  | { type: "pong" }
  | { type: "error"; detail: string };

/** A run in a list (GET /api/runs/). */
export interface RunRow {
  id: string;
  workflow: string;
  workflow_name: string;
  version: number;
  status: RunStatus;
  idempotency_key: string | null;
  correlation_id: string;
  started_by: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  stuck_since: string | null;
  last_seq: number;
  stuck_step: string | null;
  stuck_error: string | null;
}

export interface RunPage {
  next: string | null;
  previous?: string | null;
  results: RunRow[];
}

export type StepAct = "retry" | "skip" | "approve" | "reject";
export type RunAct = "compensate" | "cancel";

export interface StepRow {
  id: string;
  name: string;
  type: string;
  status: StepStatus;
  attempts: number;
  compensation_attempts: number;
  started_at: string | null;
  finished_at: string | null;
  latency_ms: number | null;
  output: Json;
  error: string;
  next_attempt_at: string | null;
  deadline_at: string | null;
}

/** A run with its steps and what the user may do to it now (GET /api/runs/{id}/). */
export interface RunBody extends Omit<RunRow, "workflow_name" | "stuck_step" | "stuck_error"> {
  input: Json;
  steps: StepRow[];
  acts: { run: RunAct[]; steps: Record<string, StepAct[]> };
}

export interface StepFigures {
  step: string;
  name: string;
  attempts: number;
  failed: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface StuckRun {
  id: string;
  version: number;
  created_at: string;
  stuck_since: string;
  stuck_step: string | null;
  stuck_error: string | null;
}

/** GET /api/workflows/{slug}/stats/ */
export interface WorkflowStats {
  workflow: string;
  window: { minutes: number; bucket_minutes: number; since: string; until: string; choices: number[] };
  /** Runs started per minute over the last ``rate_minutes`` whole minutes (fewer when the
   * workflow's first run is younger); null before its first whole minute. */
  runs_per_minute: number | null;
  rate_minutes: number;
  started: number;
  standing: Record<RunStatus, number>;
  rates: { completed: number | null; compensated: number | null; stuck: number | null };
  active: number;
  stuck_now: number;
  series: {
    t: number[];
    started: number[];
    completed: number[];
    compensated: number[];
    cancelled: number[];
    stuck: number[];
  };
  steps: StepFigures[];
  stuck_runs: StuckRun[];
}

export interface RunPageConfig {
  api: string;
  ws: string;
  run: RunBody;
  events: StreamEvent[];
  spec: Spec;
  layout: Layout;
  urls: { board: string; workflow: string; overview: string; version: string };
  workflow: { slug: string; name: string };
}

export interface BoardConfig {
  api: string;
  ws: string;
  run_url: string;
  overview_url: string;
  query: { workflow: string; status: string; since: string; until: string };
  runs: { results: RunRow[]; next: string | null };
  stuck: { results: RunRow[]; next: string | null };
}

export interface OverviewConfig {
  api: string;
  ws: string;
  run_url: string;
  board_url: string;
  stats: WorkflowStats;
}
