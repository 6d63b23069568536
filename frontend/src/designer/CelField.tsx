// A CEL expression's field: a step's condition or a map's items. Says as the author
// types whether it parses, and what it gives against the sample input; the server's
// issues about the field show under it as under any field.
import { useId, type ReactNode, type Ref } from "react";
import { celPreview, celProblem, kindOf, problemText, showValue } from "./cel";
import { IssueList, matches } from "./fields";
import type { SampleInput } from "./hooks/useSampleInput";
import type { PanelIssue } from "./issues";

/** What the expression is for, and how its value reads. */
export type CelUse = "condition" | "items";

/** The most items a map may run (the kernel's MAX_ITEMS). */
const MAX_ITEMS = 10_000;

interface Props {
  label: string;
  field: "when" | "items";
  use: CelUse;
  value: string | undefined;
  onChange: (value: string | undefined) => void;
  issues: PanelIssue[];
  sample: SampleInput;
  disabled: boolean;
  placeholder: string;
  help: ReactNode;
  /** Shows the sample input where it is edited (the Simulate tab). */
  onEditSample: () => void;
  inputRef?: Ref<HTMLTextAreaElement>;
}

export function CelField(props: Props) {
  const id = useId();
  const { value, use, sample } = props;
  const text = value ?? "";
  const found = text ? celProblem(text) : null;
  const problem = found?.severity === "error" ? found : null;
  const doubt = found?.severity === "doubt" ? found : null;
  const own = props.issues.filter((i) => matches(i, props.field));
  const hasError = !!problem || own.some((i) => i.kind === "error");
  const checkId = `${id}-check`;
  const previewId = `${id}-preview`;
  const helpId = `${id}-help`;
  return (
    <div className={`panel-field cel-field${hasError ? " has-error" : own.length ? " has-warning" : ""}`} data-field={props.field}>
      <label htmlFor={id}>{props.label}</label>
      <textarea
        id={id}
        ref={props.inputRef}
        className="mono"
        rows={2}
        spellCheck={false}
        autoComplete="off"
        value={text}
        placeholder={props.placeholder}
        disabled={props.disabled}
        aria-invalid={problem ? true : undefined}
        aria-describedby={`${checkId} ${previewId} ${helpId}`}
        onChange={(e) => props.onChange(e.target.value === "" ? undefined : e.target.value)}
      />
      {/* Always there, so that screen readers announce what appears in it. */}
      <p id={checkId} className={`cel-check${problem ? " is-bad" : doubt ? " is-doubt" : text ? " is-good" : ""}`} aria-live="polite" data-cel="check">
        {found ? problemText(found) : text ? "CEL: parses." : ""}
      </p>
      <div id={previewId} className="cel-preview" aria-live="polite" data-cel="preview">
        {text && !problem ? <Preview text={text} use={use} sample={sample} onEditSample={props.onEditSample} /> : null}
      </div>
      <p id={helpId} className="panel-help">{props.help}</p>
      <IssueList issues={own} />
    </div>
  );
}

function Preview({ text, use, sample, onEditSample }: { text: string; use: CelUse; sample: SampleInput; onEditSample: () => void }) {
  const edit = (
    <>
      {" "}
      <button type="button" className="link-button" onClick={onEditSample}>
        Edit the sample input
      </button>
    </>
  );
  const what = use === "condition" ? "the step" : "the map";
  if (sample.problem !== null) {
    return <p className="cel-result is-unknown">The sample input is not JSON yet, so there is nothing to preview.{edit}</p>;
  }
  const preview = celPreview(text, sample.cel);
  if (preview.kind === "unknown") {
    return (
      <p className="cel-result is-unknown">
        Reads the output of {preview.reads.map((r, i) => <span key={r}>{i ? ", " : ""}<code>{r}</code></span>)}: known only in a run.
      </p>
    );
  }
  if (preview.kind === "error") {
    return (
      <p className="cel-result is-error" data-value="error">
        With the sample input: cannot be evaluated ({preview.message}); in a run {what} would fail.{edit}
      </p>
    );
  }
  const value = preview.value;
  if (use === "condition") {
    if (typeof value !== "boolean") {
      return <p className="cel-result is-error" data-value="error">With the sample input: {kindOf(value)}, but a condition must be true or false.</p>;
    }
    return (
      <p className={`cel-result is-${value}`} data-value={String(value)}>
        With the sample input: <strong>{String(value)}</strong>, {value ? "the step runs" : "the step is skipped (not taken)"}.{edit}
      </p>
    );
  }
  if (!Array.isArray(value)) {
    return <p className="cel-result is-error" data-value="error">With the sample input: {kindOf(value)}, but a map's items must be a list.</p>;
  }
  if (value.length > MAX_ITEMS) {
    return <p className="cel-result is-error" data-value="error">With the sample input: {value.length} items; a map takes at most {MAX_ITEMS}.</p>;
  }
  return (
    <p className="cel-result is-true" data-value={String(value.length)}>
      With the sample input: <strong>{value.length} {value.length === 1 ? "item" : "items"}</strong>
      {value.length ? <>, the first <code>{showValue(value[0], 48)}</code></> : null}.{edit}
    </p>
  );
}
