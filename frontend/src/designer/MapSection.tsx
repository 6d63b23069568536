// A map step's own fields: the list it runs over (a CEL expression), how many
// iterations may run at once, and the step each iteration runs (`do`): a task, an
// HTTP call or a child saga, edited with the same fields as such a step's action.
import { MAP_INNER_TYPES, MAX_CONCURRENCY, type Activity, type AnyStep, type Json, type JsonObject, type MapDo, type Workflow } from "../types";
import { typeTitle } from "../graph/spec";
import { HttpFields, ITEM_TEMPLATES_HELP, TaskFields } from "./ActionFields";
import { CelField } from "./CelField";
import { childWorkflows, defaultActivity } from "./doc";
import { NumberInput, Row, Section, Select } from "./fields";
import type { SampleInput } from "./hooks/useSampleInput";
import type { PanelIssue } from "./issues";
import { ChildSagaFields } from "./SubsagaSection";

const INNER_OPTIONS = MAP_INNER_TYPES.map((t) => ({ value: t, label: typeTitle(t) }));
/** The kernel's default, when max_concurrency is not given. */
const DEFAULT_CONCURRENCY = 10;

interface Props {
  step: AnyStep;
  issues: PanelIssue[];
  sample: SampleInput;
  disabled: boolean;
  activities: Activity[];
  /** The workflows the user may see (null while they are read), and the one edited. */
  workflows: Workflow[] | null;
  self: string;
  set: (path: string[], value: Json | undefined) => void;
  onEditSample: () => void;
}

/** A fresh iteration of this type: a task calls the default activity; an HTTP call POSTs;
 * a child saga runs the first other published workflow. */
export function freshDo(type: MapDo["type"], activities: Activity[], old?: MapDo, child = ""): MapDo {
  const action: JsonObject =
    type === "task" ? { name: defaultActivity(activities) } : type === "subsaga" ? { workflow: child, input: {} } : { method: "POST", url: "" };
  const kept: Partial<MapDo> = {};
  if (old?.timeout_s !== undefined) kept.timeout_s = old.timeout_s;
  if (old?.retry !== undefined) kept.retry = old.retry;
  return { type, action, ...kept };
}

function concurrencyProblem(value: number | undefined): string | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < MAX_CONCURRENCY.minimum || value > MAX_CONCURRENCY.maximum) {
    return `A whole number from ${MAX_CONCURRENCY.minimum} to ${MAX_CONCURRENCY.maximum}.`;
  }
  return null;
}

export function MapSection({ step, issues, sample, disabled, activities, workflows, self, set, onEditSample }: Props) {
  const inner = step.do;
  const innerType = inner?.type;
  const action = (inner?.action ?? {}) as JsonObject;
  const tooMany = concurrencyProblem(step.max_concurrency);
  return (
    <Section title="For each item">
      <CelField
        label="Items (a CEL list)"
        field="items"
        use="items"
        value={step.items}
        onChange={(v) => set(["items"], v)}
        issues={issues}
        sample={sample}
        disabled={disabled}
        placeholder="input.items"
        onEditSample={onEditSample}
        help={
          <>
            One iteration per item, in order. Over <code>input</code> and <code>steps.&lt;id&gt;.output</code>; at most 10,000 items.
          </>
        }
      />
      <Row label="At most in flight" field="max_concurrency" issues={issues} help={tooMany ? undefined : `Iterations running at once, ${MAX_CONCURRENCY.minimum} to ${MAX_CONCURRENCY.maximum}. Empty: ${DEFAULT_CONCURRENCY}.`}>
        {(id) => (
          <>
            <NumberInput
              id={id}
              step="1"
              min={MAX_CONCURRENCY.minimum}
              max={MAX_CONCURRENCY.maximum}
              value={step.max_concurrency}
              placeholder={String(DEFAULT_CONCURRENCY)}
              disabled={disabled}
              describedBy={tooMany ? `${id}-problem` : undefined}
              onChange={(v) => set(["max_concurrency"], v)}
            />
            {tooMany && (
              <p id={`${id}-problem`} className="field-local-error" role="alert">
                {tooMany}
              </p>
            )}
          </>
        )}
      </Row>
      <Row label="Each iteration runs" field="do.type" issues={issues} exact>
        {(id) => (
          <Select
            id={id}
            value={innerType}
            options={INNER_OPTIONS}
            empty={innerType ? undefined : "— choose —"}
            disabled={disabled}
            onChange={(v) => v && v !== innerType && set(["do"], freshDo(v, activities, inner, childWorkflows(workflows, self)[0]?.slug) as unknown as JsonObject)}
          />
        )}
      </Row>
      <div className="map-do" data-do={innerType ?? ""}>
        {innerType === "task" && <TaskFields path={["do", "action"]} value={action} issues={issues} disabled={disabled} set={set} activities={activities} />}
        {innerType === "http" && <HttpFields path={["do", "action"]} value={action} issues={issues} disabled={disabled} set={set} help={ITEM_TEMPLATES_HELP} />}
        {innerType === "subsaga" && (
          <ChildSagaFields path={["do", "action"]} value={action} issues={issues} disabled={disabled} workflows={workflows} self={self} set={set} templatesHelp={ITEM_TEMPLATES_HELP} />
        )}
      </div>
      {innerType === "task" && <p className="panel-help">Arguments may read {"{{ item.<path> }}"} and {"{{ index }}"}: the item and its place in the list.</p>}
      {innerType === "subsaga" && <p className="panel-help">Each item starts a child run of its own; the map's output is their outputs, in item order.</p>}
    </Section>
  );
}
