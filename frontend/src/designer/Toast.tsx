// The designer's one message at a time: what a save, a submit or an import did.
// Shown over the top left of the canvas, where no control of the designer is, and
// dismissed with its button or Escape; a success goes by itself after a while,
// unless the pointer or focus is on it (its link must stay while it is reached).
import { useEffect, useState } from "react";

export interface Toast {
  kind: "success" | "info" | "error";
  text: string;
  link?: { href: string; label: string };
}

const SHOWN_MS = 6000;

export function ToastView({ toast, onDismiss }: { toast: Toast | null; onDismiss: () => void }) {
  const [held, setHeld] = useState(false);

  useEffect(() => {
    if (!toast || toast.kind === "error" || held) return;
    const timer = window.setTimeout(onDismiss, SHOWN_MS);
    return () => window.clearTimeout(timer);
  }, [toast, held, onDismiss]);

  useEffect(() => {
    if (!toast) return;
    const onKey = (event: KeyboardEvent) => {
      // Escape in a field is the field's (it undoes what was typed there).
      const field = event.target instanceof HTMLElement && event.target.closest("input, textarea, select");
      if (event.key === "Escape" && !field) onDismiss();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [toast, onDismiss]);

  useEffect(() => setHeld(false), [toast]);

  if (!toast) return null;
  return (
    <div
      className={`designer-toast toast-${toast.kind}`}
      role={toast.kind === "error" ? "alert" : "status"}
      onMouseEnter={() => setHeld(true)}
      onMouseLeave={() => setHeld(false)}
      onFocus={() => setHeld(true)}
      onBlur={() => setHeld(false)}
    >
      <span className="designer-toast-text">{toast.text}</span>
      {toast.link && <a href={toast.link.href}>{toast.link.label}</a>}
      <button type="button" className="designer-toast-close" aria-label="Dismiss" title="Dismiss (Esc)" onClick={onDismiss}>
        ×
      </button>
    </div>
  );
}
