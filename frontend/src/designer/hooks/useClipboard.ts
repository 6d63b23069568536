// Copy and paste of steps within the designer: pasted with new ids, each paste a
// little further from where the steps were copied.
import { useCallback, useRef } from "react";
import { copySteps, pasteClip, type Clip } from "../doc";
import type { Toast } from "../Toast";
import type { DocumentState } from "./useDocument";

interface Input {
  edited: DocumentState;
  selection: ReadonlySet<string>;
  select: (nodes: string[]) => void;
  readOnly: boolean;
  notify: (toast: Toast) => void;
}

export function useClipboard({ edited, selection, select, readOnly, notify }: Input) {
  const { docRef, commit } = edited;
  const clip = useRef<Clip | null>(null);
  const pastes = useRef(0);

  const copy = useCallback(() => {
    const copied = copySteps(docRef.current, [...selection]);
    if (!copied) return;
    clip.current = copied;
    pastes.current = 0;
    notify({ kind: "info", text: `Copied ${copied.steps.length} step${copied.steps.length === 1 ? "" : "s"}.` });
  }, [docRef, notify, selection]);

  const paste = useCallback(() => {
    if (readOnly || !clip.current) return;
    pastes.current += 1;
    const shift = 40 * pastes.current;
    const { doc: next, ids } = pasteClip(docRef.current, clip.current, { x: shift, y: shift });
    commit(next);
    select(ids);
  }, [commit, docRef, readOnly, select]);

  return { copy, paste };
}
