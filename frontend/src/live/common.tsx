// What the live pages share: the connection indicator, status badges, JSON shown as
// text, long text folded, and a throttle for reading the API again. (Times and
// durations are every page's: common/time.tsx.)
import { useEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { useNow } from "../common/time";
import { statusWord } from "../common/words";
import type { Json } from "../types";
import type { LiveStatus } from "./socket";

/** Renders ``children`` into the element with ``id`` (a slot the server-rendered shell
 * keeps, such as the page head), or in place when the page has none. */
export function Slot({ id, children }: { id: string; children: ReactNode }) {
  const target = document.getElementById(id);
  return target ? createPortal(children, target) : <>{children}</>;
}

/** The page's connection: live, reconnecting (and when), or stopped (and why). */
export function ConnectionBadge({ status }: { status: LiveStatus }) {
  const now = useNow(status.retryAt ? 1000 : 0);
  let label: string;
  switch (status.state) {
    case "live":
      label = "Live";
      break;
    case "connecting":
      label = "Connecting…";
      break;
    case "reconnecting": {
      const seconds = status.retryAt ? Math.max(0, Math.ceil((status.retryAt - now) / 1000)) : 0;
      label = seconds > 0 ? `Disconnected · retrying in ${seconds}s` : "Disconnected · reconnecting…";
      break;
    }
    default:
      label = "Not live";
  }
  return (
    <span
      className={`live-badge live-${status.state}`}
      data-state={status.state}
      role="status"
      aria-live="polite"
      title={status.reason ?? (status.state === "live" ? "Changes appear as they happen." : undefined)}
    >
      <span className="live-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

/** A banner when the page is not live, saying what that means. */
export function ConnectionBanner({ status }: { status: LiveStatus }) {
  if (status.state === "live" || status.state === "connecting") return null;
  const stopped = status.state === "stopped";
  return (
    <p className={`alert ${stopped ? "alert-error" : "alert-warning"} live-banner`} data-live-banner={status.state}>
      <strong>{stopped ? "This page is no longer live." : "Disconnected from the server."}</strong>{" "}
      {status.reason ?? ""}{" "}
      {stopped ? "Reload the page to try again." : "What is shown may be out of date; it catches up when the connection is back."}
    </p>
  );
}

/** A status in its colour; ``label`` says it otherwise than its name does. */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge st st-${status}`} data-status={status}>
      {label ?? statusWord(status)}
    </span>
  );
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** JSON shown as text, never as markup; a named region a keyboard can reach and
 * scroll, as the block scrolls when the value is long or wide. */
export function JsonBlock({ value, label, empty = "nothing" }: { value: Json | undefined; label: string; empty?: string }) {
  if (value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0)) {
    return <p className="muted json-empty">{empty}</p>;
  }
  return (
    <pre className="code-block json-block" tabIndex={0} role="region" aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** A function that runs ``fn`` at most once per ``ms``, the last call always honoured. */
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const state = useRef<{ timer: number | undefined; last: number }>({ timer: undefined, last: 0 });
  useEffect(() => () => window.clearTimeout(state.current.timer), []);
  const callRef = useRef<() => void>(() => {
    const s = state.current;
    if (s.timer !== undefined) return;
    const wait = Math.max(0, s.last + ms - Date.now());
    s.timer = window.setTimeout(() => {
      s.timer = undefined;
      s.last = Date.now();
      latest.current();
    }, wait);
  });
  return callRef.current;
}

// Longer text than this is cut to CLAMP_LINES lines (live.css's .clamped-text) until asked for.
const CLAMP_CHARS = 160;
const CLAMP_LINES = 3;

/** Text that may be long (a reason, an error): a few lines, and the rest on a click. */
export function Clamped({ text, className }: { text: string; className?: string }) {
  const [open, setOpen] = useState(false);
  // Short text is shown whole; the cut is by length, so it needs no measuring.
  const long = text.length > CLAMP_CHARS || text.split("\n").length > CLAMP_LINES;
  if (!long) return <span className={className}>{text}</span>;
  return (
    <span className={`clamped${open ? " is-open" : ""}${className ? ` ${className}` : ""}`} data-clamped={open ? "open" : "closed"}>
      <span className="clamped-text">{text}</span>
      <button type="button" className="link-button clamped-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Show less" : `Show all (${text.length.toLocaleString("en")} characters)`}
      </button>
    </span>
  );
}
