// A child saga's own fields: the workflow it runs (one the user may see that has a
// published version), the child run's input (JSON with templates, as a task's
// arguments), and a link to that workflow's page.
import type { AnyStep, Json, JsonObject, Workflow } from "../types";
import { TEMPLATES_HELP } from "./ActionFields";
import { childWorkflows } from "./doc";
import { JsonInput, Row, Section, Select } from "./fields";
import type { PanelIssue } from "./issues";

interface Props {
  step: AnyStep;
  issues: PanelIssue[];
  disabled: boolean;
  /** The workflows the user may see; null while they are read. */
  workflows: Workflow[] | null;
  /** The workflow being edited. */
  self: string;
  set: (path: string[], value: Json | undefined) => void;
}

/** A workflow's page. */
export function workflowUrl(slug: string): string {
  return `/workflows/${encodeURIComponent(slug)}/`;
}

function optionLabel(w: Workflow): string {
  return w.name && w.name !== w.slug ? `${w.name} (${w.slug})` : w.slug;
}

/** The workflow a child saga runs and its input, at ``path`` (a step's action, or a map's
 * ``do.action``): shared by the child saga's panel and a map that runs one per item. */
export function ChildSagaFields({
  path,
  value,
  issues,
  disabled,
  workflows,
  self,
  set,
  templatesHelp = TEMPLATES_HELP,
}: {
  path: string[];
  value: JsonObject;
  issues: PanelIssue[];
  disabled: boolean;
  workflows: Workflow[] | null;
  self: string;
  set: (path: string[], value: Json | undefined) => void;
  templatesHelp?: string;
}) {
  const slug = typeof value.workflow === "string" ? value.workflow : "";
  const offered = childWorkflows(workflows, self);
  const chosen = offered.find((w) => w.slug === slug);
  const seen = workflows?.find((w) => w.slug === slug);
  const options = offered.map((w) => ({ value: w.slug, label: optionLabel(w) }));
  // What the spec names stays shown, said to be unusable, until another is chosen.
  if (slug && !chosen) {
    const why = slug === self ? "this workflow" : seen ? "not published" : "not found";
    options.push({ value: slug, label: `${seen ? optionLabel(seen) : slug} (${why})` });
  }
  const help =
    workflows === null
      ? "Reading the workflows…"
      : offered.length === 0
        ? "No other workflow you may see has a published version yet: publish one to run it from here."
        : chosen
          ? `Runs its published version, v${chosen.published_version}, as a child run; this step waits for its end.`
          : "A workflow with a published version: this step starts a child run of it and waits for its end.";
  const field = path.join(".");
  return (
    <>
      <Row label="Workflow" field={`${field}.workflow`} issues={issues} help={help} exact>
        {(id) => (
          <>
            <Select
              id={id}
              value={slug || undefined}
              options={options}
              empty={slug ? undefined : workflows === null ? "Loading…" : "— choose a workflow —"}
              disabled={disabled}
              onChange={(v) => set([...path, "workflow"], v ?? "")}
            />
            {slug && seen && (
              <p className="child-open">
                <a href={workflowUrl(slug)} target="_blank" rel="noopener">
                  Open workflow<span className="sr-only"> {seen.name || slug} (opens in a new tab)</span>
                  <span aria-hidden="true"> ↗</span>
                </a>
              </p>
            )}
          </>
        )}
      </Row>
      <Row label="Input (JSON object)" field={`${field}.input`} issues={issues} help={`The child run's input. ${templatesHelp}`}>
        {(id) => <JsonInput id={id} value={value.input} rows={4} placeholder='{"amount": "{{ input.amount }}"}' disabled={disabled} onChange={(v) => set([...path, "input"], v)} />}
      </Row>
    </>
  );
}

export function SubsagaSection({ step, issues, disabled, workflows, self, set }: Props) {
  const action = (step.action ?? {}) as JsonObject;
  return (
    <Section title="Runs a child saga">
      <ChildSagaFields path={["action"]} value={action} issues={issues} disabled={disabled} workflows={workflows} self={self} set={set} />
      <p className="panel-help">Its output is the child run's output: later steps read it as {`{{ steps.${step.id}.output.<path> }}`}.</p>
    </Section>
  );
}
