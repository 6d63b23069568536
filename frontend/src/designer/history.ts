// Undo and redo over whole documents. Documents are never mutated, so keeping
// the old ones costs little: unchanged steps are shared between them.
import type { Doc } from "./doc";

const LIMIT = 200;

export interface History {
  past: Doc[];
  present: Doc;
  future: Doc[];
  /** Consecutive commits with the same key (typing in one field) make one undo step. */
  lastKey: string | null;
}

export type HistoryAction =
  | { type: "commit"; doc: Doc; key?: string }
  /** Changes the present without an undo step (a node being dragged). */
  | { type: "transient"; doc: Doc }
  /** Makes `base` the undo step of what changed transiently since it. */
  | { type: "record"; base: Doc }
  /** Starts over from `doc` (a version opened, a layout applied on open). */
  | { type: "reset"; doc: Doc }
  | { type: "undo" }
  | { type: "redo" };

export function initHistory(doc: Doc): History {
  return { past: [], present: doc, future: [], lastKey: null };
}

export function historyReducer(state: History, action: HistoryAction): History {
  switch (action.type) {
    case "commit": {
      if (action.doc === state.present) return state;
      if (action.key && action.key === state.lastKey) {
        return { ...state, present: action.doc, future: [] };
      }
      return {
        past: [...state.past, state.present].slice(-LIMIT),
        present: action.doc,
        future: [],
        lastKey: action.key ?? null,
      };
    }
    case "transient":
      return { ...state, present: action.doc };
    case "record":
      if (action.base === state.present) return state;
      return {
        past: [...state.past, action.base].slice(-LIMIT),
        present: state.present,
        future: [],
        lastKey: null,
      };
    case "reset":
      return initHistory(action.doc);
    case "undo": {
      const previous = state.past[state.past.length - 1];
      if (!previous) return state;
      return {
        past: state.past.slice(0, -1),
        present: previous,
        future: [state.present, ...state.future],
        lastKey: null,
      };
    }
    case "redo": {
      const next = state.future[0];
      if (!next) return state;
      return {
        past: [...state.past, state.present],
        present: next,
        future: state.future.slice(1),
        lastKey: null,
      };
    }
  }
}
