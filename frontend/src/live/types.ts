// The live pages' payloads. The run API's are the OpenAPI schema's
// (generated/api.d.ts), with what the schema leaves open (a run's steps and acts)
// said here; the stream frames (engine/consumers.py), the overview's figures
// (engine/stats.py) and the pages' configs are not in the schema and are written
// out here, named as the server names them.
import type { components, operations, paths } from "../generated/api";
import type { Json, Layout, RunStatus, Sent, Spec, StepStatus } from "../types";

type Schemas = components["schemas"];

/** One event of a run's log, in the one shape the API, the run page's first paint and
 * the streams all send. */
export type RunEvent = Schemas["Event"];

export interface SnapshotRun {
  run: string;
  workflow: string;
  status: RunStatus;
  last_seq: number;
  updated_at: string;
}

/** A run stream's summary of a map's iteration events, sent in their place (the log keeps
 * each): ``seq``, the last seq it covers (every seq up to it that the page was not sent is
 * an iteration event); ``maps``, the progress those events left each map they moved in
 * (as its StepRow's ``iterations``; empty when nothing but the cursor moved). At most one a
 * frame; board and workflow streams send none. */
export interface Progress {
  type: "progress";
  run: string;
  seq: number;
  maps: Record<string, MapProgress | null>;
}

export type Frame =
  | RunEvent
  | Progress
  | { type: "batch"; events: (RunEvent | Progress)[] }
  | { type: "snapshot"; runs: SnapshotRun[]; truncated: boolean }
  | { type: "pong" }
  | { type: "error"; detail: string };

/** A run in a list (GET /api/runs/). */
export type RunRow = Sent<Schemas["RunListItem"], "status" | "last_seq">;

/** A page of runs (GET /api/runs/; the board's first pages). */
export type RunPage = Omit<Schemas["PaginatedRunListItemList"], "results"> & { results: RunRow[] };

/** What GET /api/runs/ is asked; ``cursor`` is the pagination's, which the schema leaves out. */
export type RunsQuery = NonNullable<operations["runs_list"]["parameters"]["query"]> & { cursor?: string };

/** The acts on a step, and on a run: the last part of their paths in the API. */
// (A map iteration's acts and its list, under steps/{step}/iterations/, are not a step's.)
type ActOf<P> = P extends `/api/runs/{run_id}/steps/{step}/${infer Act}/`
  ? Act extends `${string}/${string}` | "iterations"
    ? never
    : Act
  : never;
type RunActOf<P> = P extends `/api/runs/{run_id}/${infer Act}/` ? (Act extends `${string}/${string}` | "events" ? never : Act) : never;
export type StepAct = ActOf<keyof paths>;
export type RunAct = RunActOf<keyof paths>;

/** A step of a run (the schema leaves a run's steps open). */
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
  /** A skipped step: what was skipped (the step or its compensation, by an operator; or
   * the step, by its condition). */
  skip: "step" | "compensation" | "condition" | null;
  /** A map step's progress once its items are known: how many, how many begun, and how
   * many of those stand in each status. Null for other steps. */
  iterations: MapProgress | null;
}

export interface MapProgress {
  total: number;
  started: number;
  counts: Partial<Record<StepStatus, number>>;
}

/** A run with its steps and what the user may do to it now (GET /api/runs/{id}/). */
export type RunBody = Omit<Sent<Schemas["Run"], "status" | "last_seq">, "input" | "steps" | "acts" | "parent" | "children"> & {
  input: Json;
  steps: StepRow[];
  acts: { run: RunAct[]; steps: Record<string, StepAct[]> };
  /** A child run: the run and the child saga step that started it (and the iteration,
   * when that step is a map's). */
  parent?: { run: string; step: string; index?: number | null } | null;
  /** The child runs its child saga steps started (a map's are with its iterations). */
  children?: { run: string; step: string; workflow: string; status: string }[];
};

export interface StepFigures {
  step: string;
  name: string;
  /** Every attempt the window saw, retries included. */
  attempts: number;
  /** Attempts that failed and were tried again, and their share of the attempts. */
  retried: number;
  retry_rate: number | null;
  /** Attempts that failed the step for good. */
  failed: number;
  /** Of the attempts that ended the step; null while none has. */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export interface StuckRun {
  id: string;
  version: number;
  created_at: string;
  stuck_since: string;
  stuck_step: string | null;
  stuck_error: string | null;
}

/** The windows the overview offers, in minutes (the API's choices). */
export type StatsWindow = NonNullable<NonNullable<operations["workflows_stats_retrieve"]["parameters"]["query"]>["minutes"]>;

/** GET /api/workflows/{slug}/stats/ (the schema leaves its answer open). */
export interface WorkflowStats {
  /** The workflow's slug. */
  workflow: string;
  window: { minutes: StatsWindow; bucket_minutes: number; since: string; until: string; choices: StatsWindow[] };
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

// The pages' configs. Their ``api`` (the API's root or a path under it) is not read:
// the client's paths are the schema's, absolute.

export interface RunPageConfig {
  api: string;
  ws: string;
  run: RunBody;
  /** The log's start, without the events of map iterations; ``events_through``: the
   * last seq they account for (the stream resumes after it). */
  events: RunEvent[];
  events_through: number;
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
  /** The filters as parsed, as the run list's parameters (``attr.<name>``, ``q``, ``step``
   * and ``error`` only when given): what the API is asked, and what a saved view keeps. */
  query: { workflow: string; status: string; since: string; until: string; children: string } & Record<string, string>;
  /** The one chosen workflow's search attributes (a column each); null: not one workflow. */
  attributes: string[] | null;
  /** How many runs a page of the board holds. */
  page_size: number;
  /** The first pages of the runs and of the stuck runs; ``next``: the cursor of the next page. */
  runs: { results: RunRow[]; next: string | null };
  stuck: { results: RunRow[]; next: string | null };
  /** The saved views the user sees, by name. */
  views: SavedView[];
  /** The label of the period chosen ("Last 24 hours"), which a view keeps as its time now. */
  period: string;
  /** The filters were refused: what the board shows is not them, and is not saved. */
  problem: boolean;
}

/** A saved view (GET /api/views/). */
export type SavedView = Schemas["SavedView"];

export interface OverviewConfig {
  api: string;
  ws: string;
  run_url: string;
  board_url: string;
  stats: WorkflowStats;
}
