// Form fields of the side panel. Each shows the validator's issues about the
// field it edits, right under it.
import { createContext, useContext, useEffect, useId, useState, type ReactNode } from "react";
import type { Issue, Json } from "../types";
import type { PanelIssue } from "./issues";

export function matches(issue: Issue, key: string, exact = false): boolean {
  const field = issue.field ?? "";
  if (field === key) return true;
  return !exact && (field.startsWith(`${key}.`) || field.startsWith(`${key}[`));
}

export function IssueList({ issues, id }: { issues: PanelIssue[]; id?: string }) {
  if (!issues.length) return null;
  return (
    <ul className="field-issues" id={id}>
      {issues.map((issue, i) => (
        <li key={i} className={`field-issue is-${issue.kind}`}>
          {issue.message}
        </li>
      ))}
    </ul>
  );
}

interface RowProps {
  label: string;
  field: string;
  issues: PanelIssue[];
  help?: ReactNode;
  children: (id: string) => ReactNode;
  exact?: boolean;
}

/** What a row tells the input in it: the ids of its help and issues, and whether it is wrong. */
const RowContext = createContext<{ describedBy: string; invalid: boolean } | null>(null);

/** The row's help and issues, and the input's own words (``local``), for aria-describedby. */
function useDescribed(id: string, local: string | null): { "aria-describedby"?: string; "aria-invalid"?: true } {
  const row = useContext(RowContext);
  const ids = [row?.describedBy, local ? `${id}-local` : null].filter(Boolean).join(" ");
  return { "aria-describedby": ids || undefined, "aria-invalid": row?.invalid || local ? true : undefined };
}

/** A labelled row; `field` is the dotted path the validator names (action.url, retry.backoff).
 * Its help and the validator's issues describe the input (aria-describedby); the issues
 * are announced as they come and go. */
export function Row({ label, field, issues, help, children, exact }: RowProps) {
  const id = useId();
  const own = issues.filter((i) => matches(i, field, exact));
  const hasError = own.some((i) => i.kind === "error");
  const described = [help ? `${id}-help` : null, `${id}-issues`].filter(Boolean).join(" ");
  return (
    <div className={`panel-field${hasError ? " has-error" : own.length ? " has-warning" : ""}`} data-field={field}>
      <label htmlFor={id}>{label}</label>
      <RowContext.Provider value={{ describedBy: described, invalid: hasError }}>{children(id)}</RowContext.Provider>
      {help ? <p className="panel-help" id={`${id}-help`}>{help}</p> : null}
      <div id={`${id}-issues`} aria-live="polite">
        <IssueList issues={own} />
      </div>
    </div>
  );
}

export function TextInput(props: {
  id: string;
  value: string | undefined;
  onChange: (value: string | undefined) => void;
  placeholder?: string;
  disabled?: boolean;
  list?: string;
  multiline?: boolean;
  mono?: boolean;
}) {
  const described = useDescribed(props.id, null);
  const common = {
    id: props.id,
    value: props.value ?? "",
    placeholder: props.placeholder,
    disabled: props.disabled,
    className: props.mono ? "mono" : undefined,
    spellCheck: false,
    ...described,
  };
  const change = (text: string) => props.onChange(text === "" ? undefined : text);
  if (props.multiline) {
    return <textarea rows={3} {...common} onChange={(e) => change(e.target.value)} />;
  }
  return <input type="text" list={props.list} {...common} onChange={(e) => change(e.target.value)} />;
}

/** A number, or nothing (then the default applies). Keeps half-typed text such as "1.". */
export function NumberInput(props: {
  id: string;
  value: number | undefined;
  onChange: (value: number | undefined) => void;
  placeholder?: string;
  disabled?: boolean;
  step?: string;
  min?: number;
  max?: number;
  /** The id of the field's own words about what is typed, when there are some. */
  describedBy?: string;
}) {
  const [text, setText] = useState(props.value === undefined ? "" : String(props.value));
  const described = useDescribed(props.id, null);
  const describedBy = [described["aria-describedby"], props.describedBy].filter(Boolean).join(" ") || undefined;
  useEffect(() => {
    const parsed = text.trim() === "" ? undefined : Number(text);
    if (parsed !== props.value) setText(props.value === undefined ? "" : String(props.value));
    // Only an outside change (undo, another field) should overwrite what is typed.
  }, [props.value]);
  return (
    <input
      id={props.id}
      type="number"
      inputMode="decimal"
      step={props.step ?? "any"}
      min={props.min}
      max={props.max}
      value={text}
      placeholder={props.placeholder}
      disabled={props.disabled}
      aria-describedby={describedBy}
      aria-invalid={described["aria-invalid"] || (props.describedBy ? true : undefined)}
      onChange={(e) => {
        setText(e.target.value);
        const raw = e.target.value.trim();
        if (raw === "") props.onChange(undefined);
        else if (Number.isFinite(Number(raw))) props.onChange(Number(raw));
      }}
    />
  );
}

export function Select<T extends string>(props: {
  id: string;
  value: T | undefined;
  options: { value: T; label: string }[];
  onChange: (value: T | undefined) => void;
  empty?: string;
  disabled?: boolean;
}) {
  const described = useDescribed(props.id, null);
  return (
    <select
      id={props.id}
      value={props.value ?? ""}
      disabled={props.disabled}
      {...described}
      onChange={(e) => props.onChange(e.target.value === "" ? undefined : (e.target.value as T))}
    >
      {props.empty !== undefined && <option value="">{props.empty}</option>}
      {props.options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </select>
  );
}

/** JSON text: what parses is committed; what does not yet is kept and marked. */
export function JsonInput(props: {
  id: string;
  value: Json | undefined;
  onChange: (value: Json | undefined) => void;
  placeholder?: string;
  disabled?: boolean;
  rows?: number;
}) {
  const show = (v: Json | undefined) => (v === undefined ? "" : JSON.stringify(v, null, 2));
  const [text, setText] = useState(show(props.value));
  const [bad, setBad] = useState<string | null>(null);
  const described = useDescribed(props.id, bad);
  useEffect(() => {
    let current: Json | undefined;
    try {
      current = text.trim() === "" ? undefined : (JSON.parse(text) as Json);
    } catch {
      current = undefined;
    }
    if (JSON.stringify(current) !== JSON.stringify(props.value)) {
      setText(show(props.value));
      setBad(null);
    }
  }, [props.value]);
  return (
    <>
      <textarea
        id={props.id}
        className="mono"
        rows={props.rows ?? 3}
        spellCheck={false}
        value={text}
        placeholder={props.placeholder}
        disabled={props.disabled}
        {...described}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() === "") {
            setBad(null);
            props.onChange(undefined);
            return;
          }
          try {
            const parsed = JSON.parse(e.target.value) as Json;
            setBad(null);
            props.onChange(parsed);
          } catch (err) {
            setBad(err instanceof Error ? err.message : "not JSON");
          }
        }}
      />
      <p id={`${props.id}-local`} className="field-local-error" aria-live="polite">
        {bad ? `Not valid JSON yet: ${bad}` : ""}
      </p>
    </>
  );
}

export function Checkbox(props: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  name?: string;
}) {
  return (
    <label className="panel-check">
      <input
        type="checkbox"
        name={props.name}
        checked={props.checked}
        disabled={props.disabled}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      <span>{props.label}</span>
    </label>
  );
}

export function Section({ title, children, aside }: { title: string; children: ReactNode; aside?: ReactNode }) {
  return (
    <section className="panel-section">
      <div className="panel-section-head">
        <h3>{title}</h3>
        {aside}
      </div>
      {children}
    </section>
  );
}
