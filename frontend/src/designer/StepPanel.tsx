// The side panel for one step: a form that fits its type, its condition, and for a map
// the list it runs over and the step each item runs.
import { useEffect, useId, useState } from "react";
import type { Zone } from "../graph/model";
import { typeTitle } from "../graph/spec";
import {
  COMPENSABLE,
  JITTERS,
  ON_TIMEOUT,
  type Activity,
  type AnyStep,
  type Group,
  type Json,
  type JsonObject,
  type RetryPolicy,
  type StepType,
  type Workflow,
} from "../types";
import { HttpFields, TaskFields, TEMPLATES_HELP } from "./ActionFields";
import { ConditionSection } from "./ConditionSection";
import { Checkbox, IssueList, matches, NumberInput, Row, Section, Select, TextInput } from "./fields";
import type { SampleInput } from "./hooks/useSampleInput";
import type { PanelIssue } from "./issues";
import { MapSection } from "./MapSection";
import { SubsagaSection } from "./SubsagaSection";

/** A copy of `obj` with `value` at `path`; undefined removes it, and empty objects with it. */
export function setIn<T extends object>(obj: T, path: string[], value: Json | undefined): T {
  const [head, ...rest] = path;
  const copy = { ...(obj as Record<string, unknown>) };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head];
    else copy[head] = value;
  } else {
    const inner = copy[head];
    const next = setIn(
      inner && typeof inner === "object" && !Array.isArray(inner) ? (inner as object) : {},
      rest,
      value,
    );
    if (Object.keys(next).length === 0) delete copy[head];
    else copy[head] = next;
  }
  return copy as T;
}

const JITTER_OPTIONS = JITTERS.map((j) => ({ value: j, label: j }));
const ON_TIMEOUT_OPTIONS = ON_TIMEOUT.map((o) => ({ value: o, label: o }));
const HTTP = ["method", "url", "headers", "body"];
const TASK = ["name", "args"];
const RETRY = ["max_attempts", "initial_delay_s", "backoff", "max_delay_s", "jitter"];

/** What a step calls, and where in it: a map's is its iteration's (`do`). */
function calls(step: AnyStep): { type: StepType | undefined; base: string[]; action: JsonObject; compensation: JsonObject | undefined } {
  if (step.type === "map") {
    return { type: step.do?.type, base: ["do"], action: step.do?.action ?? {}, compensation: step.do?.compensation };
  }
  return { type: step.type, base: [], action: step.action ?? {}, compensation: step.compensation };
}

/** The fields the panel shows for a step: issues about anything else go at the top. */
function shownKeys(step: AnyStep): string[] {
  const keys = ["id", "name", "after", "pivot", "when", "optional"];
  const action: Record<string, string[]> = {
    http: HTTP,
    task: TASK,
    approval: ["group", "instructions", "timeout_s", "on_timeout"],
    delay: ["seconds"],
    callback: HTTP,
    subsaga: ["workflow", "input"],
  };
  const { type, base, compensation } = calls(step);
  const at = (key: string) => [...base, key].join(".");
  if (step.type === "map") keys.push("items", "max_concurrency", "do.type");
  keys.push(...(action[type ?? ""] ?? []).map((k) => at(`action.${k}`)));
  if (type && COMPENSABLE[type]) {
    keys.push(at("compensation"));
    if (compensation) keys.push(...(type === "task" ? TASK : HTTP).map((k) => at(`compensation.${k}`)));
  }
  if (step.type !== "approval" && step.type !== "delay") {
    keys.push(at("timeout_s"), ...RETRY.map((k) => at(`retry.${k}`)));
  }
  return keys;
}

interface Props {
  step: AnyStep;
  /** Every step of the workflow, this one included: those it may run after. */
  steps: readonly AnyStep[];
  zone: Zone;
  issues: PanelIssue[];
  readOnly: boolean;
  activities: Activity[];
  groups: Group[];
  /** The workflows the user may see (null while read), and the one edited: for a child saga. */
  workflows: Workflow[] | null;
  workflow: string;
  sample: SampleInput;
  onChange: (step: AnyStep, key: string) => void;
  onRename: (id: string) => string | null;
  onDelete: () => void;
  /** Makes the step optional, or not: the steps after it also run after those before it. */
  onOptional: (on: boolean) => void;
  /** Shows the sample input where it is edited. */
  onEditSample: () => void;
}

export function StepPanel({ step, steps, zone, issues, readOnly, activities, groups, workflows, workflow, sample, onChange, onRename, onDelete, onOptional, onEditSample }: Props) {
  const keys = shownKeys(step);
  const loose = issues.filter((i) => !keys.some((k) => matches(i, k, k.endsWith("compensation"))));
  const set = (path: string[], value: Json | undefined) => onChange(setIn(step, path, value), path.join("."));
  const action = (step.action ?? {}) as JsonObject;
  const disabled = readOnly;
  const inner = calls(step);
  const at = (key: string) => [...inner.base, key];
  const compensable = inner.type !== undefined && COMPENSABLE[inner.type];
  const noCompensationHere = zone !== "compensable";
  const isMap = step.type === "map";
  const compensationKey = at("compensation").join(".");
  const part = { issues, disabled, set };

  return (
    <div className="panel-body" data-panel="step" data-step={step.id}>
      <div className="panel-title">
        <span className={`step-badge badge-type-${step.type}`}>{typeTitle(step.type)}</span>
        <h2>{step.name || step.id}</h2>
        {!readOnly && (
          <button type="button" className="btn btn-small btn-danger" onClick={onDelete} title="Delete the step (Delete)">
            Delete
          </button>
        )}
      </div>
      {loose.length > 0 && <IssueList issues={loose} />}

      <Section title="Step">
        <IdField id={step.id} disabled={disabled} onRename={onRename} issues={issues} />
        <Row label="Name" field="name" issues={issues}>
          {(id) => <TextInput id={id} value={step.name} placeholder="What the step does" disabled={disabled} onChange={(v) => set(["name"], v)} />}
        </Row>
        <div className="panel-field" data-field="after">
          <span className="panel-label">Runs after</span>
          <div className="after-chips">
            {(step.after ?? []).length === 0 && <span className="muted">the start of the run</span>}
            {(step.after ?? []).map((a) => (
              <span key={a} className="after-chip">
                <code>{a}</code>
                {!readOnly && (
                  <button type="button" aria-label={`Remove ${a} from after`} onClick={() => onChange({ ...step, after: (step.after ?? []).filter((x) => x !== a) }, `after-${a}`)}>
                    ×
                  </button>
                )}
              </span>
            ))}
          </div>
          {!readOnly && (
            <AfterPicker
              candidates={afterCandidates(steps, step)}
              alone={steps.length < 2}
              // Keys of their own: each add and remove is an undo step, not merged as typing is.
              onAdd={(before) => onChange({ ...step, after: [...(step.after ?? []), before] }, `after+${before}`)}
            />
          )}
          <IssueList issues={issues.filter((i) => matches(i, "after"))} />
        </div>
      </Section>

      <ConditionSection
        step={step}
        steps={steps}
        issues={issues}
        sample={sample}
        disabled={disabled}
        onWhen={(when) => set(["when"], when)}
        onOptional={onOptional}
        onEditSample={onEditSample}
      />

      {isMap ? (
        <MapSection step={step} issues={issues} sample={sample} disabled={disabled} activities={activities} workflows={workflows} self={workflow} set={set} onEditSample={onEditSample} />
      ) : step.type === "subsaga" ? (
        <SubsagaSection step={step} issues={issues} disabled={disabled} workflows={workflows} self={workflow} set={set} />
      ) : (
        <Section title={`Action · ${typeTitle(step.type)}`}>
          {step.type === "http" && <HttpFields path={["action"]} value={action} {...part} help={TEMPLATES_HELP} />}
          {step.type === "callback" && (
            <>
              <p className="panel-help">Optional: a call that hands the participant its one-time token. The step then waits for the participant's answer.</p>
              <HttpFields path={["action"]} value={action} {...part} optional help={TEMPLATES_HELP} />
            </>
          )}
          {step.type === "task" && <TaskFields path={["action"]} value={action} {...part} activities={activities} />}
          {step.type === "approval" && (
            <>
              <Row label="Approver group" field="action.group" issues={issues} help="A member of this group approves or rejects.">
                {(id) => (
                  <>
                    <TextInput id={id} list={`${id}-groups`} value={action.group as string | undefined} disabled={disabled} placeholder="managers" onChange={(v) => set(["action", "group"], v ?? "")} />
                    <datalist id={`${id}-groups`}>
                      {groups.map((g) => (
                        <option key={g.name} value={g.name} />
                      ))}
                    </datalist>
                  </>
                )}
              </Row>
              <Row label="Instructions" field="action.instructions" issues={issues}>
                {(id) => <TextInput id={id} multiline value={action.instructions as string | undefined} disabled={disabled} onChange={(v) => set(["action", "instructions"], v)} />}
              </Row>
              <div className="panel-grid">
                <Row label="Time to decide (s)" field="action.timeout_s" issues={issues}>
                  {(id) => <NumberInput id={id} value={action.timeout_s as number | undefined} placeholder="no limit" disabled={disabled} onChange={(v) => set(["action", "timeout_s"], v)} />}
                </Row>
                <Row label="On timeout" field="action.on_timeout" issues={issues}>
                  {(id) => <Select id={id} value={action.on_timeout as string | undefined} options={ON_TIMEOUT_OPTIONS} empty="reject (default)" disabled={disabled} onChange={(v) => set(["action", "on_timeout"], v)} />}
                </Row>
              </div>
            </>
          )}
          {step.type === "delay" && (
            <Row label="Wait (seconds)" field="action.seconds" issues={issues} help="A durable timer: no worker sleeps.">
              {(id) => <NumberInput id={id} value={action.seconds as number | undefined} min={0} disabled={disabled} onChange={(v) => set(["action", "seconds"], v ?? 0)} />}
            </Row>
          )}
        </Section>
      )}

      <Section title="Compensation">
        {step.type === "subsaga" ? (
          <p className="panel-help">
            Nothing to write: undoing this step compensates its child run, the child's steps last first. A child run
            past its own pivot cannot be undone; the run then stops as stuck, saying why.
          </p>
        ) : !compensable ? (
          <p className="panel-help">{typeTitle(step.type)} steps have nothing to undo.</p>
        ) : (
          <>
            <Checkbox
              name="has-compensation"
              label={isMap ? "Undo each iteration when a later step fails" : "Undo this step when a later step fails"}
              checked={!!inner.compensation}
              disabled={disabled || (noCompensationHere && !inner.compensation)}
              onChange={(on) => {
                if (!on) return set(at("compensation"), undefined);
                const fresh: JsonObject =
                  inner.type === "task"
                    ? { name: "" }
                    : { method: "DELETE", url: typeof inner.action.url === "string" ? inner.action.url : "" };
                set(at("compensation"), fresh);
              }}
            />
            <IssueList issues={issues.filter((i) => matches(i, compensationKey, true))} />
            {isMap && <p className="panel-help">Succeeded iterations are undone last first; the compensation reads its iteration's output as {`{{ steps.${step.id}.output.<path> }}`}.</p>}
            {noCompensationHere && (
              <p className="panel-help">
                {zone === "pivot" ? "This is the pivot" : "This step runs after the pivot"}: once the pivot has
                succeeded the run only moves forward, so nothing here is compensated.
              </p>
            )}
            {inner.compensation &&
              (inner.type === "task" ? (
                <TaskFields path={at("compensation")} value={inner.compensation} {...part} activities={activities} />
              ) : (
                <HttpFields path={at("compensation")} value={inner.compensation} {...part} />
              ))}
          </>
        )}
      </Section>

      <Section title="Pivot">
        <Checkbox
          name="pivot"
          label="Pivot: the point of no return"
          checked={step.pivot === true}
          disabled={disabled}
          onChange={(on) => set(["pivot"], on ? true : undefined)}
        />
        <p className="panel-help">Steps before the pivot are compensated when a later one fails; the pivot and steps after it never are. A step that fails after the pivot leaves the run stuck for an operator.</p>
        <IssueList issues={issues.filter((i) => matches(i, "pivot"))} />
      </Section>

      {step.type !== "approval" && step.type !== "delay" && (
        <Section title={isMap ? "Timeout and retries of each iteration" : step.type === "subsaga" ? "Starting the child run: timeout and retries" : "Timeout and retries"}>
          <RetryFields base={inner.base} owner={isMap ? step.do : step} issues={issues} disabled={disabled} set={set} child={step.type === "subsaga"} />
        </Section>
      )}
    </div>
  );
}

/** A step's (or a map's iteration's) timeout and retry policy, at ``base``. */
function RetryFields({ base, owner, issues, disabled, set, child = false }: { base: string[]; owner: { timeout_s?: number; retry?: RetryPolicy } | undefined; issues: PanelIssue[]; disabled: boolean; set: (path: string[], value: Json | undefined) => void; child?: boolean }) {
  const key = (k: string) => [...base, k].join(".");
  const put = (path: string[], value: Json | undefined) => set([...base, ...path], value);
  const retry = owner?.retry;
  return (
    <>
      <Row
        label={child ? "Time to start it (s)" : "Timeout per attempt (s)"}
        field={key("timeout_s")}
        issues={issues}
        help={child ? "Empty: the workflow's default. Only starting the child run has a deadline: the step then waits as long as the child takes, which may wait for people." : "Empty: the workflow's default."}
      >
        {(id) => <NumberInput id={id} value={owner?.timeout_s} placeholder="default" disabled={disabled} onChange={(v) => put(["timeout_s"], v)} />}
      </Row>
      <div className="panel-grid">
        <Row label="Max attempts" field={key("retry.max_attempts")} issues={issues}>
          {(id) => <NumberInput id={id} step="1" min={1} value={retry?.max_attempts} placeholder="default" disabled={disabled} onChange={(v) => put(["retry", "max_attempts"], v)} />}
        </Row>
        <Row label="First delay (s)" field={key("retry.initial_delay_s")} issues={issues}>
          {(id) => <NumberInput id={id} min={0} value={retry?.initial_delay_s} placeholder="default" disabled={disabled} onChange={(v) => put(["retry", "initial_delay_s"], v)} />}
        </Row>
        <Row label="Backoff ×" field={key("retry.backoff")} issues={issues}>
          {(id) => <NumberInput id={id} min={1} value={retry?.backoff} placeholder="default" disabled={disabled} onChange={(v) => put(["retry", "backoff"], v)} />}
        </Row>
        <Row label="Max delay (s)" field={key("retry.max_delay_s")} issues={issues}>
          {(id) => <NumberInput id={id} min={0} value={retry?.max_delay_s} placeholder="default" disabled={disabled} onChange={(v) => put(["retry", "max_delay_s"], v)} />}
        </Row>
      </div>
      <Row label="Jitter" field={key("retry.jitter")} issues={issues}>
        {(id) => <Select id={id} value={retry?.jitter} options={JITTER_OPTIONS} empty="default" disabled={disabled} onChange={(v) => put(["retry", "jitter"], v)} />}
      </Row>
    </>
  );
}

function IdField({ id, disabled, onRename, issues }: { id: string; disabled: boolean; onRename: (id: string) => string | null; issues: PanelIssue[] }) {
  const [text, setText] = useState(id);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setText(id);
    setProblem(null);
  }, [id]);
  const commit = () => {
    if (text === id) return setProblem(null);
    setProblem(onRename(text));
  };
  return (
    <Row label="Id" field="id" issues={issues} help={problem ? undefined : "Used in templates as steps.<id>; renaming updates the steps that run after it."}>
      {(inputId) => (
        <>
          <input
            id={inputId}
            type="text"
            className="mono"
            value={text}
            disabled={disabled}
            spellCheck={false}
            onChange={(e) => setText(e.target.value)}
            onBlur={commit}
            onKeyDown={(e) => {
              if (e.key === "Enter") commit();
              if (e.key === "Escape") setText(id);
            }}
          />
          {problem ? <p className="field-local-error">{problem}</p> : null}
        </>
      )}
    </Row>
  );
}

/**
 * The steps ``step`` may be made to run after: not itself, none it runs after already,
 * and none that runs after it, directly or not (that would make a cycle).
 */
export function afterCandidates(steps: readonly AnyStep[], step: AnyStep): AnyStep[] {
  const later = new Set([step.id]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of steps) {
      if (!later.has(s.id) && (s.after ?? []).some((a) => later.has(a))) {
        later.add(s.id);
        grew = true;
      }
    }
  }
  const already = new Set(step.after ?? []);
  return steps.filter((s) => !later.has(s.id) && !already.has(s.id));
}

/**
 * Adds a step to ``after`` without drawing an edge: a keyboard's way. Choosing only
 * picks (arrow keys browse a closed select, changing it at each press); Add adds.
 */
function AfterPicker({ candidates, alone, onAdd }: { candidates: AnyStep[]; alone: boolean; onAdd: (id: string) => void }) {
  const id = useId();
  const [chosen, setChosen] = useState("");
  const value = candidates.some((s) => s.id === chosen) ? chosen : "";
  if (alone) return <p className="panel-help">Add another step first: this one can then run after it.</p>;
  return (
    <>
      {candidates.length > 0 ? (
        <div className="after-add">
          <label htmlFor={id} className="sr-only">Add a step it runs after</label>
          <select id={id} value={value} onChange={(e) => setChosen(e.target.value)}>
            <option value="">Add a step it runs after…</option>
            {candidates.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name && s.name !== s.id ? `${s.name} (${s.id})` : s.id}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="btn btn-small"
            disabled={!value}
            onClick={() => {
              onAdd(value);
              setChosen("");
            }}
          >
            Add
          </button>
        </div>
      ) : (
        <p className="panel-help">No other step can come before it: each runs before it already, or after it.</p>
      )}
      <p className="panel-help">Or drag from a step's right handle to this one's left handle.</p>
    </>
  );
}
