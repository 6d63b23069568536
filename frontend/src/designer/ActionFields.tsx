// The fields of what a step calls, shared by a step's action and compensation and by a
// map's iteration (do.action, do.compensation): an HTTP call's or a task's.
import { METHODS, type Activity, type Json, type JsonObject } from "../types";
import { JsonInput, Row, Select, TextInput } from "./fields";
import type { PanelIssue } from "./issues";

const METHOD_OPTIONS = METHODS.map((m) => ({ value: m, label: m }));

export const TEMPLATES_HELP = "Templates: {{ input.x }}, {{ steps.<id>.output.<path> }}, {{ run.id }}";
export const ITEM_TEMPLATES_HELP = "Templates: {{ item.<path> }}, {{ index }}, {{ input.x }}, {{ steps.<id>.output.<path> }}";

interface PartProps {
  /** Where the part sits in the step: ["action"], ["compensation"], ["do", "action"]. */
  path: string[];
  value: JsonObject;
  issues: PanelIssue[];
  disabled: boolean;
  set: (path: string[], value: Json | undefined) => void;
}

export function HttpFields({ path, value, issues, disabled, set, optional = false, help }: PartProps & { optional?: boolean; help?: string }) {
  const key = path.join(".");
  return (
    <>
      <Row label="Method" field={`${key}.method`} issues={issues}>
        {(id) => (
          <Select
            id={id}
            value={value.method as string | undefined}
            options={METHOD_OPTIONS}
            empty={optional ? "—" : undefined}
            disabled={disabled}
            onChange={(v) => set([...path, "method"], v)}
          />
        )}
      </Row>
      <Row label="URL" field={`${key}.url`} issues={issues} help={help}>
        {(id) => (
          <TextInput id={id} mono value={value.url as string | undefined} placeholder="https://service.local/path" disabled={disabled} onChange={(v) => set([...path, "url"], v ?? (optional ? undefined : ""))} />
        )}
      </Row>
      <Row label="Headers (JSON)" field={`${key}.headers`} issues={issues}>
        {(id) => <JsonInput id={id} value={value.headers} placeholder='{"X-Team": "orders"}' disabled={disabled} onChange={(v) => set([...path, "headers"], v)} />}
      </Row>
      <Row label="Body (JSON)" field={`${key}.body`} issues={issues}>
        {(id) => <JsonInput id={id} value={value.body} placeholder='{"order": "{{ input.order_id }}"}' disabled={disabled} onChange={(v) => set([...path, "body"], v)} />}
      </Row>
    </>
  );
}

export function TaskFields({ path, value, issues, disabled, set, activities }: PartProps & { activities: Activity[] }) {
  const key = path.join(".");
  const options = activities.map((a) => ({ value: a.name, label: a.name }));
  const name = value.name;
  const withUnknown =
    typeof name === "string" && name && !activities.some((a) => a.name === name)
      ? [...options, { value: name, label: `${name} (not registered)` }]
      : options;
  const described = activities.find((a) => a.name === name)?.description;
  return (
    <>
      <Row label="Activity" field={`${key}.name`} issues={issues} help={described}>
        {(id) => (
          <Select id={id} value={name as string | undefined} options={withUnknown} empty="— choose an activity —" disabled={disabled} onChange={(v) => set([...path, "name"], v ?? "")} />
        )}
      </Row>
      <Row label="Arguments (JSON object)" field={`${key}.args`} issues={issues}>
        {(id) => <JsonInput id={id} value={value.args} placeholder='{"order": "{{ input.order_id }}"}' disabled={disabled} onChange={(v) => set([...path, "args"], v)} />}
      </Row>
    </>
  );
}
