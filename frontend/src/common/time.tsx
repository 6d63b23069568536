// Times and durations, written one way on every page: in UTC (the server's zone, and
// the board's filters'), 24-hour, largest unit first. Nothing here asks the browser's
// locale.
import { useEffect, useState, type ReactNode } from "react";

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
// As the server-rendered pages write theirs.

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
