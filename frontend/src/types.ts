// The one module of shared types: the sagaboard/v1 definition format, the
// REST API's payloads and the run event messages, named as DESIGN.md names them.
// Enumerations come from the JSON Schema the Python validator uses, so the
// forms offer exactly what the server accepts.
import schemaJson from "../../saga/sagaboard-v1.schema.json";

interface SchemaShape {
  $defs: {
    method: { enum: string[] };
    duration: { maximum: number };
    retry: { properties: { jitter: { enum: string[] }; max_attempts: { maximum: number } } };
    approval_action: { properties: { on_timeout: { enum: string[] } } };
    step: {
      properties: {
        id: { pattern: string };
        type: { enum: string[] };
      };
    };
  };
}

export const SCHEMA = schemaJson as unknown as SchemaShape;
export const FORMAT = "sagaboard/v1";

// --- the definition format ------------------------------------------------------

export type StepType = "http" | "task" | "approval" | "delay" | "callback";
export const STEP_TYPES = SCHEMA.$defs.step.properties.type.enum as StepType[];

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD";
export const METHODS = SCHEMA.$defs.method.enum as HttpMethod[];

export type Jitter = "full" | "equal" | "none";
export const JITTERS = SCHEMA.$defs.retry.properties.jitter.enum as Jitter[];

export type OnTimeout = "reject" | "approve";
export const ON_TIMEOUT = SCHEMA.$defs.approval_action.properties.on_timeout.enum as OnTimeout[];

export const STEP_ID_PATTERN = new RegExp(SCHEMA.$defs.step.properties.id.pattern);
export const MAX_DURATION_S = SCHEMA.$defs.duration.maximum;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface RetryPolicy {
  max_attempts?: number;
  initial_delay_s?: number;
  backoff?: number;
  max_delay_s?: number;
  jitter?: Jitter;
}

export interface HttpAction {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: Json;
}

export interface TaskAction {
  name: string;
  args?: JsonObject;
}

export interface ApprovalAction {
  group: string;
  instructions?: string;
  timeout_s?: number;
  on_timeout?: OnTimeout;
}

export interface DelayAction {
  seconds: number;
}

export type CallbackAction = Partial<HttpAction>;

interface StepBase {
  id: string;
  name?: string;
  description?: string;
  after?: string[];
  timeout_s?: number;
  retry?: RetryPolicy;
  pivot?: boolean;
}

export interface HttpStep extends StepBase {
  type: "http";
  action: HttpAction;
  compensation?: HttpAction;
}
export interface TaskStep extends StepBase {
  type: "task";
  action: TaskAction;
  compensation?: TaskAction;
}
export interface ApprovalStep extends StepBase {
  type: "approval";
  action: ApprovalAction;
}
export interface DelayStep extends StepBase {
  type: "delay";
  action: DelayAction;
}
export interface CallbackStep extends StepBase {
  type: "callback";
  action?: CallbackAction;
  compensation?: HttpAction;
}

export type Step = HttpStep | TaskStep | ApprovalStep | DelayStep | CallbackStep;

/** What the editor reads and writes of a step, whatever its type. */
export type AnyStep = StepBase & {
  type: StepType;
  action?: JsonObject;
  compensation?: JsonObject;
};

export interface Spec {
  format: typeof FORMAT;
  description?: string;
  input_schema?: JsonObject;
  defaults?: { timeout_s?: number; retry?: RetryPolicy };
  deadline_s?: number;
  steps: AnyStep[];
}

export interface Position {
  x: number;
  y: number;
}

/** A version's layout: node positions by step id, stored beside the spec, never in it. */
export type Layout = Record<string, Position>;

/** Which step types may carry a compensation, and of which shape. */
export const COMPENSABLE: Record<StepType, boolean> = {
  http: true,
  task: true,
  approval: false,
  delay: false,
  callback: true,
};

// --- the API ----------------------------------------------------------------------

export interface Issue {
  step: string | null;
  field: string | null;
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  errors: Issue[];
  warnings: Issue[];
}

export type VersionStatus = "draft" | "in_review" | "approved" | "published" | "retired";
export type VersionAct = "edit" | "submit" | "approve" | "request_changes" | "publish";

export interface Review {
  round: number;
  reviewer: string | null;
  decision: "approve" | "request_changes";
  comment: string;
  created_at: string;
}

export interface Version {
  workflow: string;
  number: number;
  status: VersionStatus;
  content_hash: string;
  note: string;
  author: string | null;
  spec: Spec;
  layout: Layout;
  acts: VersionAct[];
  approvals: number;
  required_approvals: number;
  reviews: Review[];
  updated_at: string;
  warnings?: Issue[];
}

export interface FieldChange {
  old: Json | undefined;
  new: Json | undefined;
}

export interface Diff {
  added: string[];
  removed: string[];
  changed: { step: string; fields: Record<string, FieldChange> }[];
  workflow?: Record<string, FieldChange>;
}

export interface Activity {
  name: string;
  description: string;
}

export interface Group {
  name: string;
}

export interface LayoutResult {
  positions: Layout;
  width: number;
  height: number;
}

export interface ApiErrorBody {
  detail: string;
  errors: Issue[];
}

// --- runs and their events ------------------------------------------------------------

export type RunStatus =
  | "pending"
  | "running"
  | "waiting"
  | "compensating"
  | "completed"
  | "compensated"
  | "stuck"
  | "cancelled";

export type StepStatus =
  | "pending"
  | "running"
  | "retrying"
  | "waiting"
  | "succeeded"
  | "failed"
  | "skipped"
  | "compensating"
  | "compensated"
  | "compensation_failed";

export type EventType =
  | "run.started"
  | "run.completed"
  | "run.compensating"
  | "run.compensated"
  | "run.stuck"
  | "run.cancelled"
  | "step.started"
  | "step.succeeded"
  | "step.failed"
  | "step.retry_scheduled"
  | "step.waiting"
  | "step.skipped"
  | "step.compensation_started"
  | "step.compensated"
  | "step.compensation_failed"
  | "act.retry"
  | "act.skip"
  | "act.compensate"
  | "act.cancel"
  | "act.approve"
  | "act.reject";

/** One event of a run's log, as the API and the live streams send it. */
export interface RunEvent {
  seq: number;
  event: EventType;
  step: string | null;
  status: RunStatus | StepStatus;
  attempt: number | null;
  error: string | null;
}

/** What POST /api/simulate/ returns for one failing step (or none). */
export interface Simulation {
  fail_step: string | null;
  status: RunStatus;
  events: RunEvent[];
  steps: Record<string, StepStatus>;
  path: string[];
  compensation_order: string[];
}
