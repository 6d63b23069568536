// The designer's keys: Ctrl+S save, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo and redo,
// Ctrl+C / Ctrl+V copy and paste, Delete or Backspace delete, F fit. Only Ctrl+S works
// while typing in a field: there the other keys are the field's.
import { useEffect } from "react";
import type { Toast } from "../Toast";

interface Input {
  readOnly: boolean;
  canSave: boolean;
  /** Checked by the validator, and how many errors it found. */
  checked: boolean;
  errorCount: number;
  /** Whether the unsaved changes are kept in this browser. */
  kept: boolean;
  save: () => void;
  undo: () => void;
  redo: () => void;
  copy: () => void;
  paste: () => void;
  deleteSelection: () => void;
  fit: () => void;
  notify: (toast: Toast) => void;
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function useShortcuts(input: Input) {
  const { readOnly, canSave, checked, errorCount, kept, save, undo, redo, copy, paste, deleteSelection, fit, notify } = input;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (ctrl && key === "s") {
        event.preventDefault();
        if (canSave) save();
        else if (!readOnly && checked && errorCount > 0) {
          notify({
            kind: "info",
            text: `Not saved: fix ${errorCount} error${errorCount === 1 ? "" : "s"} first; only valid drafts are stored.${kept ? " Your changes are kept in this browser meanwhile." : ""}`,
          });
        }
        return;
      }
      if (isEditable(event.target)) return;
      if (ctrl && key === "z" && !event.shiftKey) {
        event.preventDefault();
        if (!readOnly) undo();
      } else if (ctrl && ((key === "z" && event.shiftKey) || key === "y")) {
        event.preventDefault();
        if (!readOnly) redo();
      } else if (ctrl && key === "c") {
        copy();
      } else if (ctrl && key === "v") {
        event.preventDefault();
        paste();
      } else if (!ctrl && !event.altKey && (key === "delete" || key === "backspace")) {
        event.preventDefault();
        deleteSelection();
      } else if (!ctrl && !event.altKey && key === "f") {
        event.preventDefault();
        fit();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canSave, checked, copy, deleteSelection, errorCount, fit, kept, notify, paste, readOnly, redo, save, undo]);
}
