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

// --- times ---------------------------------------------------------------------------
// Every time on the live pages is written one way, as the server-rendered pages write
// theirs: in UTC (the server's zone, and the board's filters'), 24-hour, largest unit
// first. Nothing here asks the browser's locale.

/** The zone every time is shown in; said in each time's tooltip. */
export const TIME_ZONE = "UTC";

type At = string | number | Date;

function toDate(at: At): Date | null {
  const d = at instanceof Date ? at : new Date(at);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** "2026-11-26". */
export function day(at: At): string {
  const d = toDate(at);
  return d ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` : "—";
}

/** "10:29" */
export function hourMinute(at: At): string {
  const d = toDate(at);
  return d ? `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` : "—";
}

/** "10:29:04" */
export function clockOf(at: At): string {
  const d = toDate(at);
  return d ? `${hourMinute(d)}:${pad(d.getUTCSeconds())}` : "—";
}

/** "2026-11-26 10:29:04" */
export function stampOf(at: At): string {
  const d = toDate(at);
  return d ? `${day(d)} ${clockOf(d)}` : "—";
}

/** "2026-11-26 10:29" */
export function minuteStamp(at: At): string {
  const d = toDate(at);
  return d ? `${day(d)} ${hourMinute(d)}` : "—";
}

/** The labels of a time axis (uPlot's, in epoch seconds, ``incr`` seconds apart): the
 * time of day to the second or minute, as fine as the ticks are; a tick on a new day
 * says the day too. */
export function tickLabels(splits: number[], incr: number): string[] {
  return splits.map((t, i) => {
    if (t === null || t === undefined) return "";
    const ms = t * 1000;
    if (incr >= 86400) return day(ms);
    const time = incr < 60 ? clockOf(ms) : hourMinute(ms);
    const newDay = i > 0 && day(ms) !== day(splits[i - 1] * 1000);
    return newDay ? `${day(ms)}\n${time}` : time;
  });
}

export function clock(iso: string | null | undefined): string {
  return iso ? clockOf(iso) : "—";
}

export function stamp(iso: string | null | undefined): string {
  return iso ? stampOf(iso) : "—";
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
    <time dateTime={iso} title={`${stamp(iso)} ${TIME_ZONE}`}>
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
