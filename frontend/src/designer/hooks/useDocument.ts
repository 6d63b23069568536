// The document being edited (spec and layout) with its undo and redo, and the
// version note written beside it (saved with the draft, never undone).
import { useCallback, useReducer, useRef, useState } from "react";
import { asLayout, asSpec } from "../../graph/spec";
import type { DesignerConfig } from "../config";
import { emptySpec, type Doc } from "../doc";
import { historyReducer, initHistory } from "../history";

/** What the designer opens with: the version's document, a new draft's start, or nothing. */
export function initialDoc(config: DesignerConfig): Doc {
  if (config.version) return { spec: asSpec(config.version.spec), layout: asLayout(config.version.layout) };
  if (config.start) return { spec: asSpec(config.start.spec), layout: config.start.layout ?? {} };
  return { spec: emptySpec(), layout: {} };
}

export function useDocument(config: DesignerConfig) {
  const [history, dispatch] = useReducer(historyReducer, config, (c) => initHistory(initialDoc(c)));
  const doc = history.present;
  // The latest document, for handlers that React Flow keeps between renders.
  const docRef = useRef(doc);
  docRef.current = doc;
  const [note, setNote] = useState(config.version?.note ?? "");
  const commit = useCallback((next: Doc, key?: string) => dispatch({ type: "commit", doc: next, key }), []);
  return {
    doc,
    docRef,
    note,
    setNote,
    commit,
    dispatch,
    canUndo: history.past.length > 0,
    canRedo: history.future.length > 0,
  };
}

export type DocumentState = ReturnType<typeof useDocument>;
