// A step's condition ("Runs only when", its `when`) and "optional": the wiring that
// lets the steps after it run whether it ran or its condition skipped it.
import { useRef } from "react";
import type { AnyStep } from "../types";
import { CelField } from "./CelField";
import { isOptional } from "./doc";
import { Checkbox, IssueList, matches, Section } from "./fields";
import type { SampleInput } from "./hooks/useSampleInput";
import type { PanelIssue } from "./issues";

interface Props {
  step: AnyStep;
  steps: readonly AnyStep[];
  issues: PanelIssue[];
  sample: SampleInput;
  disabled: boolean;
  onWhen: (when: string | undefined) => void;
  onOptional: (on: boolean) => void;
  onEditSample: () => void;
}

function list(ids: string[]): string {
  return ids.length < 2 ? ids.join("") : `${ids.slice(0, -1).join(", ")} and ${ids[ids.length - 1]}`;
}

export function ConditionSection({ step, steps, issues, sample, disabled, onWhen, onOptional, onEditSample }: Props) {
  const field = useRef<HTMLTextAreaElement>(null);
  const index = steps.findIndex((s) => s.id === step.id);
  const before = step.after ?? [];
  const next = steps.filter((s) => (s.after ?? []).includes(step.id)).map((s) => s.id);
  const optional = index >= 0 && isOptional(steps, index);
  const cannot = before.length === 0 ? "it runs first, so there is no step to go round it from" : next.length === 0 ? "no step runs after it yet" : null;
  return (
    <Section title="Condition">
      <CelField
        label="Runs only when"
        field="when"
        use="condition"
        value={step.when}
        onChange={onWhen}
        issues={issues}
        sample={sample}
        disabled={disabled}
        placeholder="input.amount > 10000"
        inputRef={field}
        onEditSample={onEditSample}
        help={
          <>
            A CEL condition over <code>input</code> and <code>steps.&lt;id&gt;.output</code>. False: the step is skipped, never called
            and never compensated, and so are the steps that run only after it. Empty: it always runs.
          </>
        }
      />
      <div className="panel-field" data-field="optional">
        <Checkbox
          name="optional"
          label="Optional: the steps after it run whether it runs or is skipped"
          checked={optional}
          disabled={disabled || (cannot !== null && !optional)}
          onChange={(on) => {
            onOptional(on);
            if (on && !step.when) field.current?.focus();
          }}
        />
        <p className="panel-help" data-optional-help>
          {cannot !== null && !optional
            ? `Not possible here: ${cannot}.`
            : `Makes ${list(next)} also run after ${list(before)}, beside the path through this step.`}
        </p>
        {optional && !step.when && <p className="field-local-error">Give it a condition above: without one it always runs.</p>}
        <IssueList issues={issues.filter((i) => matches(i, "optional"))} />
      </div>
    </Section>
  );
}
