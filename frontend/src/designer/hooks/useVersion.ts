// The version being edited, whether the user may edit it, and whether the document
// says something the version (or, for a new draft, its start) does not.
import { useCallback, useState } from "react";
import type { Version } from "../../types";
import type { DesignerConfig } from "../config";
import { layoutKey, specKey, type Doc } from "../doc";
import { initialDoc } from "./useDocument";

function savedKeyOf(doc: Doc, note: string): string {
  return `${specKey(doc.spec)}\n${layoutKey(doc)}\n${note}`;
}

export function useVersion(config: DesignerConfig, doc: Doc, note: string) {
  const [version, setVersion] = useState<Version | null>(config.version);
  // What the document was when last saved (null: never saved, a new draft), and what a
  // new draft started from, so that opening one and leaving it untouched warns of nothing.
  const [savedKey, setSavedKey] = useState<string | null>(() =>
    config.version ? savedKeyOf(initialDoc(config), config.version.note ?? "") : null,
  );
  const [startKey, setStartKey] = useState(() => savedKeyOf(initialDoc(config), ""));
  const readOnly = version ? !version.acts.includes("edit") : !config.can_create;
  const dirty = !readOnly && (savedKey ?? startKey) !== savedKeyOf(doc, note);

  /** The server stored ``doc`` with ``note`` as ``saved``. */
  const stored = useCallback((saved: Version, sent: Doc, sentNote: string) => {
    setVersion(saved);
    setSavedKey(savedKeyOf(sent, sentNote));
  }, []);

  /** The document opened is ``next`` after all (laid out on opening): no change of the author's. */
  const rebase = useCallback(
    (next: Doc) => {
      setSavedKey((key) => (key === null ? null : savedKeyOf(next, config.version?.note ?? "")));
      setStartKey(savedKeyOf(next, ""));
    },
    [config.version],
  );

  return { version, setVersion, readOnly, dirty, neverSaved: savedKey === null, stored, rebase };
}

export type VersionState = ReturnType<typeof useVersion>;
