// The designer's header: what is open, its status, and every act on it.
import { useRef, type ReactNode } from "react";
import { plural, statusWord } from "../common/words";
import type { Version } from "../types";
import { versionUrl, type DesignerConfig } from "./config";

interface Props {
  config: DesignerConfig;
  version: Version | null;
  readOnly: boolean;
  dirty: boolean;
  neverSaved: boolean;
  busy: "save" | "submit" | "layout" | null;
  validationState: "checking" | "valid" | "invalid";
  errors: number;
  warnings: number;
  canUndo: boolean;
  canRedo: boolean;
  canSave: boolean;
  canSubmit: boolean;
  canDelete: boolean;
  simulating: boolean;
  /** Whether the unsaved changes are kept in this browser (see unsaved.ts). */
  kept: boolean;
  onUndo: () => void;
  onRedo: () => void;
  onDelete: () => void;
  onLayout: () => void;
  onFit: () => void;
  onSave: () => void;
  onSubmit: () => void;
  onSimulate: () => void;
  onShowProblems: () => void;
  onImport: (text: string) => void;
  onExport: (format: "json" | "yaml") => void;
  /** Notices shown under the toolbar (unsaved work to restore). */
  children?: ReactNode;
}

function Icon({ d }: { d: string }) {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}

const UNDO = "M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11";
const REDO = "m15 14 5-5-5-5M20 9H9.5a5.5 5.5 0 0 0 0 11H13";
const TRASH = "M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6";
const FILE_ARROWS = "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5M9 13l3-3 3 3M12 10v8";

export function Toolbar(props: Props) {
  const { config, version, readOnly, validationState } = props;
  const file = useRef<HTMLInputElement>(null);
  const start = config.start;
  const name = config.workflow.name;
  // Why saving is not offered: the server stores only valid drafts (DESIGN.md), so an
  // invalid one waits in this browser (see unsaved.ts) until its errors are fixed.
  const keptWords = props.kept ? " Your changes are kept in this browser meanwhile." : "";
  const saveBlocked =
    validationState === "invalid"
      ? `Can't save yet: fix ${plural(props.errors, "error")} first (only valid drafts are stored).${keptWords}`
      : validationState === "checking"
        ? "Checking…"
        : "";
  const saveState =
    props.busy === "save"
      ? "Saving…"
      : props.dirty
        ? props.kept
          ? "Unsaved · kept in this browser"
          : "Unsaved changes"
        : props.neverSaved
          ? "Not saved yet"
          : "Saved";
  return (
    <header className="designer-header">
      <div className="designer-header-row">
      <div className="designer-title">
        <div className="designer-title-top">
          <nav className="designer-crumbs" aria-label="Breadcrumb">
            <a href={config.urls.workflow} className="crumb-workflow" title={name}>{name}</a>
            {version && (
              <>
                <span aria-hidden="true">/</span>
                <a href={versionUrl(config, version.number)}>v{version.number}</a>
              </>
            )}
            <span aria-hidden="true">/</span>
            <span>designer</span>
          </nav>
          {!readOnly && (
            <span
              className={`save-state${props.dirty || props.neverSaved ? " is-dirty" : ""}`}
              id="designer-save-state"
              data-testid="save-state"
              title={props.dirty && props.kept ? "Kept in this browser until you save or discard them: closing the tab loses nothing." : undefined}
            >
              {saveState}
            </span>
          )}
        </div>
        <h1>
          <span className="designer-workflow" title={name}>{name}</span>
          {version ? (
            <>
              <span className="version-no">v{version.number}</span>
              <span className={`badge badge-${version.status}`} data-testid="version-status">
                {statusWord(version.status)}
              </span>
            </>
          ) : (
            <>
              <span className="version-no">new draft</span>
              <span className="muted title-from">
                {start?.from ? `from v${start.from}` : "from an empty canvas"}
              </span>
            </>
          )}
        </h1>
      </div>

      <div className="designer-tools" role="toolbar" aria-label="Designer">
        {!readOnly && (
          <div className="tool-group">
            <button type="button" className="tool" onClick={props.onUndo} disabled={!props.canUndo} title="Undo (Ctrl+Z)" aria-label="Undo"><Icon d={UNDO} /></button>
            <button type="button" className="tool" onClick={props.onRedo} disabled={!props.canRedo} title="Redo (Ctrl+Shift+Z or Ctrl+Y)" aria-label="Redo"><Icon d={REDO} /></button>
            <button type="button" className="tool" onClick={props.onDelete} disabled={!props.canDelete} title="Delete the selection (Delete)" aria-label="Delete"><Icon d={TRASH} /></button>
          </div>
        )}
        <div className="tool-group">
          {!readOnly && (
            <button type="button" className="btn btn-small" onClick={props.onLayout} disabled={props.busy === "layout"} title="Lay the graph out with graphviz">
              {props.busy === "layout" ? "Laying out…" : "Auto-layout"}
            </button>
          )}
          <button type="button" className="btn btn-small" onClick={props.onFit} title="Zoom to fit (F)">Fit</button>
          <button type="button" className={`btn btn-small${props.simulating ? " is-on" : ""}`} onClick={props.onSimulate} aria-pressed={props.simulating}>
            Simulate
          </button>
        </div>
        <details className="tool-menu">
          <summary className="btn btn-small tool-menu-button" aria-label="Import / export" title="Import / export">
            <Icon d={FILE_ARROWS} />
            <span className="tool-label" aria-hidden="true">Import / export</span>
          </summary>
          <div className="tool-menu-items">
            {!readOnly && (
              <button type="button" onClick={() => file.current?.click()}>Import JSON or YAML…</button>
            )}
            <button type="button" onClick={() => props.onExport("json")}>Export JSON</button>
            <button type="button" onClick={() => props.onExport("yaml")}>Export YAML</button>
          </div>
        </details>
        <input
          ref={file}
          type="file"
          accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml"
          className="sr-only"
          // Reached through the menu's Import item, which opens it; not a tab stop itself.
          tabIndex={-1}
          aria-label="Import a definition, JSON or YAML"
          data-testid="import-file"
          onChange={async (e) => {
            const chosen = e.target.files?.[0];
            e.target.value = "";
            if (chosen) props.onImport(await chosen.text());
          }}
        />

        <button
          type="button"
          className={`validation validation-${validationState}`}
          onClick={props.onShowProblems}
          title="Checked by the server's validator as you edit"
          data-testid="validation"
        >
          {validationState === "checking"
            ? "Checking…"
            : validationState === "valid"
              ? props.warnings
                ? `Valid · ${plural(props.warnings, "warning")}`
                : "Valid"
              : `${plural(props.errors, "error")}${props.warnings ? ` · ${plural(props.warnings, "warning")}` : ""}`}
        </button>

        {readOnly ? (
          <div className="tool-group">
            {version && config.can_create && (
              <a className="btn btn-small btn-primary" href={`${config.urls.new_draft}?from=${version.number}`}>
                New draft from v{version.number}
              </a>
            )}
            {config.open_draft && config.open_draft !== version?.number && (
              <a className="btn btn-small" href={versionUrl(config, config.open_draft, "designer")}>Open draft v{config.open_draft}</a>
            )}
            {version && (version.acts.includes("approve") || version.acts.includes("request_changes")) && (
              <a className="btn btn-small btn-primary" href={versionUrl(config, version.number, "review")}>Review</a>
            )}
          </div>
        ) : (
          <div className="tool-group">
            <button type="button" className="btn btn-small" onClick={props.onSave} disabled={!props.canSave} title={saveBlocked || "Save the draft (Ctrl+S)"} aria-describedby="designer-save-state">
              {version ? "Save draft" : "Save as draft"}
            </button>
            <button type="button" className="btn btn-small btn-primary" onClick={props.onSubmit} disabled={!props.canSubmit} title={saveBlocked || "Save and send for review"} aria-describedby="designer-save-state">
              {props.busy === "submit" ? "Submitting…" : "Submit for review"}
            </button>
          </div>
        )}
      </div>
      </div>
      {readOnly && version && (
        <p className="designer-readonly" role="status">
          Read-only: v{version.number} is {statusWord(version.status)}. Only a draft can change.
        </p>
      )}
      {!readOnly && !version && config.open_draft && (
        <p className="designer-readonly" role="status">
          Draft v{config.open_draft} is open already. <a href={versionUrl(config, config.open_draft, "designer")}>Continue it</a> or save this as a new draft.
        </p>
      )}
      {props.children}
    </header>
  );
}
