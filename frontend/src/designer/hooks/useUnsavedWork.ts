// Unsaved work kept in this browser (unsaved.ts), one slot per version being edited:
// kept a moment after each change, and when the tab closes; on opening, what the slot
// holds is offered back when it says something the server's copy does not. A tab
// with unsaved changes asks before it is left.
import { useCallback, useEffect, useRef, useState } from "react";
import { cleanLayout } from "../../graph/model";
import type { Version } from "../../types";
import type { DesignerConfig } from "../config";
import type { Doc } from "../doc";
import { clearUnsaved, differsFrom, readUnsaved, unsavedKey, writeUnsaved, type UnsavedWork } from "../unsaved";
import { initialDoc } from "./useDocument";

/** How long the canvas must be still before it is kept in this browser again. */
const KEEP_DELAY_MS = 400;

interface Input {
  config: DesignerConfig;
  version: Version | null;
  doc: Doc;
  note: string;
  dirty: boolean;
}

export function useUnsavedWork({ config, version, doc, note, dirty }: Input) {
  const user = config.user;
  const storeKey = unsavedKey(user, config.workflow.slug, version?.number ?? null);
  const [offer, setOffer] = useState<UnsavedWork | null>(() => {
    const work = readUnsaved(unsavedKey(user, config.workflow.slug, config.version?.number ?? null));
    return work && differsFrom(work, initialDoc(config), config.version?.note ?? "") ? work : null;
  });
  const [kept, setKept] = useState(false);
  const keepNow = useRef<(() => void) | null>(null);

  useEffect(() => {
    if (!dirty) {
      keepNow.current = null;
      setKept(false);
      // Nothing unsaved: the slot goes, unless it holds work still offered for restoring.
      if (!offer) clearUnsaved(storeKey);
      return;
    }
    const work: UnsavedWork = {
      format: 1,
      workflow: config.workflow.slug,
      version: version?.number ?? null,
      base: version
        ? { number: version.number, updated_at: version.updated_at }
        : { number: config.start?.from ?? null, updated_at: null },
      saved_at: new Date().toISOString(),
      spec: doc.spec,
      layout: cleanLayout(doc),
      note,
    };
    const keep = () => {
      if (keepNow.current !== keep) return; // saved, or overtaken by a later change
      keepNow.current = null;
      setKept(writeUnsaved(storeKey, work));
    };
    keepNow.current = keep;
    const timer = window.setTimeout(keep, KEEP_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [config, dirty, doc, note, offer, storeKey, version]);

  useEffect(() => {
    // A tab closed within the delay keeps its last change too.
    const flush = () => keepNow.current?.();
    window.addEventListener("pagehide", flush);
    return () => window.removeEventListener("pagehide", flush);
  }, []);

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  /** The server stored the work of slot ``key``: this browser's copy goes (a change made
   * while saving is kept again, under the saved version). */
  const forget = useCallback((key: string) => {
    keepNow.current = null;
    clearUnsaved(key);
  }, []);

  const dismiss = useCallback(() => setOffer(null), []);

  return { storeKey, offer, kept, forget, dismiss };
}

export type UnsavedState = ReturnType<typeof useUnsavedWork>;
