// The offer, on opening the designer, of unsaved work this browser kept (unsaved.ts).
import { ago, Time } from "../common/time";
import { plural, statusWord } from "../common/words";
import type { Version } from "../types";
import type { UnsavedWork } from "./unsaved";

interface Props {
  work: UnsavedWork;
  version: Version | null;
  readOnly: boolean;
  onRestore: () => void;
  onDiscard: () => void;
  onExport: () => void;
}

export function RestoreBanner({ work, version, readOnly, onRestore, onDiscard, onExport }: Props) {
  const what = version
    ? `v${version.number}`
    : `a new draft${work.base.number ? ` from v${work.base.number}` : ""}`;
  // The draft was saved again (another tab, another session) after this work began from it.
  const overtaken =
    !readOnly && version !== null && work.base.updated_at !== null && work.base.updated_at !== version.updated_at;
  return (
    <div className="designer-restore" role="status" data-testid="unsaved-restore">
      <p>
        <strong>Unsaved changes to {what}</strong> are kept in this browser, from{" "}
        <Time iso={work.saved_at} /> ({ago(work.saved_at, Date.now())}): {plural(work.spec.steps.length, "step")}.{" "}
        {readOnly && version
          ? `v${version.number} is ${statusWord(version.status)} now and can no longer change; export them to keep them.`
          : overtaken
            ? `v${version?.number} has been saved since; restoring puts them in place of what is saved.`
            : "Restore them to go on where you left off."}
      </p>
      <div className="designer-restore-acts">
        {readOnly ? (
          <button type="button" className="btn btn-small" onClick={onExport}>Export them as JSON</button>
        ) : (
          <button type="button" className="btn btn-small btn-primary" onClick={onRestore}>Restore</button>
        )}
        <button type="button" className="btn btn-small" onClick={onDiscard}>Discard</button>
      </div>
    </div>
  );
}
