// The one module of shared types: the sagaboard/v1 definition format and the REST
// API's payloads, named as DESIGN.md names them. Each comes from where the server
// keeps it: the kernel's vocabulary (statuses, event types, step kinds) from
// generated/vocabulary.ts, the API's shapes from generated/api.d.ts (the OpenAPI
// schema), and the definition format's other enumerations from the JSON Schema the
// Python validator uses, so the forms offer exactly what the server accepts.
import schemaJson from "../../saga/sagaboard-v1.schema.json";
import type { components } from "./generated/api";
import {
  RUN_STATUSES,
  STEP_KINDS,
  STEP_STATUSES,
  type RunStatus,
  type StepStatus,
  type StepType,
} from "./generated/vocabulary";

export type { EventType, RunStatus, StepStatus, StepType } from "./generated/vocabulary";

interface SchemaShape {
  $defs: {
    method: { enum: string[] };
    duration: { maximum: number };
    retry: { properties: { jitter: { enum: string[] }; max_attempts: { maximum: number } } };
    approval_action: { properties: { on_timeout: { enum: string[] } } };
    step: { properties: { id: { pattern: string }; max_concurrency: { minimum: number; maximum: number } } };
    map_do: { properties: { type: { enum: string[] } } };
  };
}

export const SCHEMA = schemaJson as unknown as SchemaShape;
export const FORMAT = "sagaboard/v1";

// --- the kernel's vocabulary ----------------------------------------------------------

/** The step types, in the order the palette offers them. */
export const STEP_TYPES: readonly StepType[] = STEP_KINDS.map((kind) => kind.name);

/** Which step types may carry a compensation. */
export const COMPENSABLE = Object.fromEntries(STEP_KINDS.map((kind) => [kind.name, kind.compensates])) as Record<
  StepType,
  boolean
>;

const RUN_STATUS_SET: ReadonlySet<string> = new Set(RUN_STATUSES);
const STEP_STATUS_SET: ReadonlySet<string> = new Set(STEP_STATUSES);

/** Whether a status the server sends as a plain string (an event's) is a run's. */
export function isRunStatus(status: string | null | undefined): status is RunStatus {
  return typeof status === "string" && RUN_STATUS_SET.has(status);
}

/** Whether a status the server sends as a plain string (an event's) is a step's. */
export function isStepStatus(status: string | null | undefined): status is StepStatus {
  return typeof status === "string" && STEP_STATUS_SET.has(status);
}

// --- the definition format ------------------------------------------------------

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
  /** A CEL condition: false, the step is skipped (not taken) and never compensated. */
  when?: string;
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

/** The step a map runs for each item (its templates may read {{ item.x }}, {{ index }}). */
export interface MapDo {
  type: "task" | "http" | "subsaga";
  action: JsonObject;
  compensation?: JsonObject;
  timeout_s?: number;
  retry?: RetryPolicy;
}

/** The types a map's iteration may be (those the schema allows that the panel can edit),
 * and how many iterations it may keep in flight. */
export const MAP_INNER_TYPES = SCHEMA.$defs.map_do.properties.type.enum.filter(
  (t): t is MapDo["type"] => t === "task" || t === "http" || t === "subsaga",
);
export const MAX_CONCURRENCY = SCHEMA.$defs.step.properties.max_concurrency;

/** What the editor reads and writes of a step, whatever its type. */
export type AnyStep = StepBase & {
  type: StepType;
  action?: JsonObject;
  compensation?: JsonObject;
  /** A map's: a CEL expression giving the list, at most this many in flight, and the step. */
  items?: string;
  max_concurrency?: number;
  do?: MapDo;
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

// --- the API's payloads (generated/api.d.ts) ---------------------------------------------

type Schemas = components["schemas"];

/**
 * ``T`` with ``K`` required: fields the server always sends though the schema marks
 * them optional (model fields with a default are optional on input).
 */
export type Sent<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;

export type Issue = Schemas["Issue"];
export type ValidationResult = Schemas["ValidateOut"];
export type Activity = Schemas["Activity"];
export type Group = Schemas["Group"];
/** A workflow as listed: a child saga may run one that has a published version. */
export type Workflow = Schemas["Workflow"];
export type Diff = Schemas["Diff"];

/** A version; a save's answer adds the validator's warnings, which the schema does not say. */
export type Version = Sent<Schemas["Version"], "status"> & { warnings?: Issue[] };

/** What a changed field of a diff holds (the schema leaves a change's fields open). */
export interface FieldChange {
  old: Json | undefined;
  new: Json | undefined;
}

/** What POST /api/simulate/ returns for one failing step (or none); its statuses, which
 * the schema sends as strings, are the kernel's. */
export type Simulation = Omit<Schemas["Simulation"], "status" | "steps"> & {
  status: RunStatus;
  steps: Record<string, StepStatus>;
};
