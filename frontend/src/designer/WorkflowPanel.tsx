// The side panel when no step is selected: the spec's own fields, the version
// note, every issue at a glance, and what the colours on the canvas mean.
import { plural } from "../common/words";
import { JITTERS, type Json, type JsonObject, type Spec } from "../types";
import { IssueList, JsonInput, NumberInput, Row, Section, Select, TextInput } from "./fields";
import type { PanelIssue } from "./issues";
import { setIn } from "./StepPanel";

interface Props {
  spec: Spec;
  note: string;
  issues: PanelIssue[];
  allIssues: PanelIssue[];
  readOnly: boolean;
  onChange: (spec: Spec, key: string) => void;
  onNote: (note: string) => void;
  onPick: (step: string) => void;
}

const JITTER_OPTIONS = JITTERS.map((j) => ({ value: j, label: j }));

export function WorkflowPanel({ spec, note, issues, allIssues, readOnly, onChange, onNote, onPick }: Props) {
  const set = (path: string[], value: Json | undefined) => onChange(setIn(spec, path, value), path.join("."));
  const retry = spec.defaults?.retry ?? {};
  const pivots = spec.steps.filter((s) => s.pivot === true).map((s) => s.id);
  const errors = allIssues.filter((i) => i.kind === "error");
  const warnings = allIssues.filter((i) => i.kind === "warning");
  return (
    <div className="panel-body" data-panel="workflow">
      <div className="panel-title">
        <h2>Workflow</h2>
        <span className="muted">
          {spec.steps.length} step{spec.steps.length === 1 ? "" : "s"} · pivot {pivots.length ? pivots.join(", ") : "none"}
        </span>
      </div>

      <Section title="Problems" aside={<span className="muted">{plural(errors.length, "error")} · {plural(warnings.length, "warning")}</span>}>
        {allIssues.length === 0 ? (
          <p className="panel-help">The validator finds nothing to object to.</p>
        ) : (
          <ul className="problem-list">
            {allIssues.map((issue, i) => (
              <li key={i} className={`problem is-${issue.kind}`}>
                {issue.step ? (
                  <button type="button" className="linkish" onClick={() => onPick(issue.step ?? "")}>
                    {issue.step}
                  </button>
                ) : (
                  <span className="muted">workflow</span>
                )}
                {issue.field ? <code>{issue.field}</code> : null}
                <span>{issue.message}</span>
              </li>
            ))}
          </ul>
        )}
      </Section>

      {!readOnly && (
        <Section title="Version note">
          <Row label="What changes, and why" field="note" issues={[]}>
            {(id) => <TextInput id={id} value={note} placeholder="Saved with the draft; reviewers see it" onChange={(v) => onNote(v ?? "")} />}
          </Row>
        </Section>
      )}

      <Section title="Definition">
        <IssueList issues={issues.filter((i) => !i.field)} />
        <Row label="Description" field="description" issues={issues}>
          {(id) => <TextInput id={id} multiline value={spec.description} disabled={readOnly} onChange={(v) => set(["description"], v)} />}
        </Row>
        <div className="panel-grid">
          <Row label="Default timeout (s)" field="defaults.timeout_s" issues={issues}>
            {(id) => <NumberInput id={id} value={spec.defaults?.timeout_s} placeholder="30" disabled={readOnly} onChange={(v) => set(["defaults", "timeout_s"], v)} />}
          </Row>
          <Row label="Run deadline (s)" field="deadline_s" issues={issues} help="No progress for this long: stuck.">
            {(id) => <NumberInput id={id} value={spec.deadline_s} placeholder="none" disabled={readOnly} onChange={(v) => set(["deadline_s"], v)} />}
          </Row>
        </div>
      </Section>

      <Section title="Default retry policy">
        <div className="panel-grid">
          <Row label="Max attempts" field="defaults.retry.max_attempts" issues={issues}>
            {(id) => <NumberInput id={id} step="1" value={retry.max_attempts} placeholder="3" disabled={readOnly} onChange={(v) => set(["defaults", "retry", "max_attempts"], v)} />}
          </Row>
          <Row label="First delay (s)" field="defaults.retry.initial_delay_s" issues={issues}>
            {(id) => <NumberInput id={id} value={retry.initial_delay_s} placeholder="1" disabled={readOnly} onChange={(v) => set(["defaults", "retry", "initial_delay_s"], v)} />}
          </Row>
          <Row label="Backoff ×" field="defaults.retry.backoff" issues={issues}>
            {(id) => <NumberInput id={id} value={retry.backoff} placeholder="2" disabled={readOnly} onChange={(v) => set(["defaults", "retry", "backoff"], v)} />}
          </Row>
          <Row label="Max delay (s)" field="defaults.retry.max_delay_s" issues={issues}>
            {(id) => <NumberInput id={id} value={retry.max_delay_s} placeholder="60" disabled={readOnly} onChange={(v) => set(["defaults", "retry", "max_delay_s"], v)} />}
          </Row>
        </div>
        <Row label="Jitter" field="defaults.retry.jitter" issues={issues}>
          {(id) => <Select id={id} value={retry.jitter} options={JITTER_OPTIONS} empty="full (default)" disabled={readOnly} onChange={(v) => set(["defaults", "retry", "jitter"], v)} />}
        </Row>
      </Section>

      <Section title="Input schema">
        <Row label="JSON Schema a run's input must satisfy" field="input_schema" issues={issues}>
          {(id) => (
            <JsonInput
              id={id}
              rows={5}
              value={spec.input_schema as JsonObject | undefined}
              placeholder='{"type": "object", "required": ["order_id"]}'
              disabled={readOnly}
              onChange={(v) => set(["input_schema"], v)}
            />
          )}
        </Row>
      </Section>

      <Section title="Reading the canvas">
        <ul className="legend-list">
          <li><span className="legend-swatch zone-compensable" /> before the pivot: compensated if a later step fails</li>
          <li><span className="legend-swatch zone-pivot" /> the pivot: the point of no return</li>
          <li><span className="legend-swatch zone-forward" /> after the pivot: only moves forward</li>
          <li><span className="legend-swatch is-uncovered" /> before the pivot with no compensation</li>
          <li><span className="legend-swatch has-errors" /> refused by the validator</li>
        </ul>
        <p className="panel-help">
          Shortcuts: Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo, Delete, Ctrl+C / Ctrl+V, Ctrl+S save, F fit to screen.
        </p>
      </Section>
    </div>
  );
}
