// The run's event log, as it streams: one row per event, oldest first. It opens at
// its first row, and follows the newest while the reader is at the bottom.
import { useLayoutEffect, useRef } from "react";
import { clock, latency, stamp, TIME_ZONE } from "../../common/time";
import { Clamped, StatusBadge } from "../common";
import type { RunEvent } from "../types";

/** Who acted and why, and the error: a long reason or error is cut to a few lines, whole
 * on a click, so that one act does not make the log a wall of text. */
function Detail({ event }: { event: RunEvent }) {
  const reason = typeof event.data.reason === "string" ? event.data.reason : "";
  return (
    <>
      {event.actor && <span className="event-actor">by {event.actor}</span>}
      {event.actor && (reason || event.error) ? " · " : null}
      {reason && <Clamped className="event-reason" text={`“${reason}”`} />}
      {reason && event.error ? " · " : null}
      {event.error && <Clamped className="error-text" text={event.error} />}
    </>
  );
}

export function EventLog({ events }: { events: RunEvent[] }) {
  const box = useRef<HTMLDivElement>(null);
  // Unknown until the first paint: a log that fits follows what comes; a longer one opens
  // at its start (it was scrolled to its end, its first rows gone up under its header),
  // and follows once the reader scrolls down to the newest.
  const atBottom = useRef<boolean | null>(null);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (atBottom.current === null) {
      atBottom.current = el.scrollHeight - el.clientHeight < 24;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [events]);

  const onScroll = () => {
    const el = box.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };

  return (
    <div className="event-log" ref={box} onScroll={onScroll} data-count={events.length} tabIndex={0} role="region" aria-label="Event log">
      <table className="table table-compact">
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Time</th>
            <th>Event</th>
            <th>Step</th>
            <th>Status</th>
            <th className="num">Attempt</th>
            <th className="num">Latency</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.seq} data-seq={event.seq} data-event={event.event} className={`ev-${event.event.split(".")[0]}`}>
              <td className="num muted">{event.seq}</td>
              <td className="nowrap"><time dateTime={event.at} title={`${stamp(event.at)} ${TIME_ZONE}`}>{clock(event.at)}</time></td>
              <td><code>{event.event}</code></td>
              <td>{event.step ? <code>{event.step}</code> : <span className="muted">run</span>}</td>
              <td>{event.status ? <StatusBadge status={event.status} /> : null}</td>
              <td className="num">{event.attempt ?? ""}</td>
              <td className="num">{event.latency_ms === null ? "" : latency(event.latency_ms)}</td>
              <td className="event-detail"><Detail event={event} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
