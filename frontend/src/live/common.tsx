// What the live pages share: the connection indicator, status badges, times and
// durations in words, JSON shown as text, and a clock that ticks.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import type { Json } from "../types";
import type { LiveStatus } from "./socket";

export function readConfig<T>(root: HTMLElement): T {
  const id = root.dataset.config ?? "";
  const element = document.getElementById(id);
  if (!element?.textContent) throw new Error(`The page has no #${id} data.`);
  return JSON.parse(element.textContent) as T;
}

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

const STATUS_WORDS: Record<string, string> = {
  compensation_failed: "compensation failed",
  retrying: "retrying",
};

export function statusWord(status: string): string {
  return STATUS_WORDS[status] ?? status;
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge st st-${status}`} data-status={status}>
      {statusWord(status)}
    </span>
  );
}

/** Re-renders every ``ms`` milliseconds (0: never); returns the time. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ms) return;
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return ms ? now : Date.now();
}

/** "3.2 s", "4 min 10 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function latency(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "—" : duration(ms);
}

export function clock(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function stamp(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  const day = d.toLocaleDateString([], { year: "numeric", month: "2-digit", day: "2-digit" });
  return `${day} ${clock(iso)}`;
}

/** "12 s ago", "5 min ago". */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return "—";
  const ms = now - Date.parse(iso);
  return ms < 1000 ? "just now" : `${duration(ms).replace(/\.\d/, "")} ago`;
}

export function Time({ iso, children }: { iso: string | null | undefined; children?: ReactNode }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={stamp(iso)}>
      {children ?? stamp(iso)}
    </time>
  );
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** JSON shown as text, never as markup. */
export function JsonBlock({ value, empty = "nothing" }: { value: Json | undefined; empty?: string }) {
  if (value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0)) {
    return <p className="muted json-empty">{empty}</p>;
  }
  return <pre className="code-block json-block">{JSON.stringify(value, null, 2)}</pre>;
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
