// One WebSocket per live page, kept open: it reconnects with backoff after a
// drop and resumes where it was (a run stream by the last seq it has; the board
// and workflow streams get a fresh snapshot on connect). Close codes are those
// of engine/consumers.py: some end the stream for good, the rest are retried.
import { useEffect, useRef, useState } from "react";
import type { Frame, Progress, SnapshotRun, RunEvent } from "./types";

export type LiveState = "connecting" | "live" | "reconnecting" | "stopped";

export interface LiveStatus {
  state: LiveState;
  /** When the next attempt to connect is due (ms since epoch), while reconnecting. */
  retryAt: number | null;
  /** Why the stream stopped for good, or what the last drop was. */
  reason: string | null;
}

export interface LiveHandlers {
  onEvents: (events: RunEvent[]) => void;
  /** A run stream's progress of its maps, after the events of the same frame. */
  onProgress?: (progress: Progress) => void;
  onSnapshot?: (runs: SnapshotRun[], truncated: boolean) => void;
  /** Query parameters of each connection, e.g. {after: "12"} to resume a run stream. */
  query?: () => Record<string, string>;
  /** Called after a reconnect (not the first connect): the page may refetch what it shows. */
  onReconnect?: () => void;
}

/** Close codes after which trying again cannot help. */
const FINAL: Record<number, string> = {
  4400: "The page asked the stream for something it does not understand.",
  4401: "You are signed out. Log in again to follow this page live.",
  4403: "You may no longer see this, or it is gone.",
  4404: "There is no such stream.",
};
const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 15000;
/** A connection that lasted this long resets the backoff. */
const STABLE_MS = 10000;
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export class LiveSocket {
  private readonly path: string;
  private readonly handlers: LiveHandlers;
  private readonly report: (status: LiveStatus) => void;
  private ws: WebSocket | null = null;
  private failures = 0;
  private connectedAt = 0;
  private everOpened = false;
  private stopped = false;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private pongTimer: number | undefined;

  constructor(path: string, handlers: LiveHandlers, report: (status: LiveStatus) => void) {
    this.path = path;
    this.handlers = handlers;
    this.report = report;
  }

  start(): void {
    this.stopped = false;
    window.addEventListener("online", this.retryNow);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.retryNow);
    this.clearTimers();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
    }
  }

  private readonly retryNow = (): void => {
    if (!this.stopped && !this.ws) {
      window.clearTimeout(this.retryTimer);
      this.connect();
    }
  };

  private url(): string {
    const url = new URL(this.path, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    for (const [key, value] of Object.entries(this.handlers.query?.() ?? {})) {
      url.searchParams.set(key, value);
    }
    return url.toString();
  }

  private connect(): void {
    this.report({ state: this.everOpened ? "reconnecting" : "connecting", retryAt: null, reason: null });
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.connectedAt = Date.now();
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.report({ state: "live", retryAt: null, reason: null });
      this.schedulePing();
      if (reconnected) this.handlers.onReconnect?.();
    };
    ws.onmessage = (message: MessageEvent) => {
      window.clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
      if (typeof message.data !== "string") return;
      let frame: Frame;
      try {
        frame = JSON.parse(message.data) as Frame;
      } catch {
        return;
      }
      this.dispatch(frame);
    };
    ws.onclose = (event: CloseEvent) => {
      this.ws = null;
      this.clearTimers();
      if (this.stopped) return;
      const final = FINAL[event.code];
      if (final) {
        this.stopped = true;
        this.report({ state: "stopped", retryAt: null, reason: final });
        return;
      }
      if (this.connectedAt && Date.now() - this.connectedAt > STABLE_MS) this.failures = 0;
      this.connectedAt = 0;
      // Full jitter, so that pages dropped together do not come back together.
      const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.failures);
      const delay = MIN_DELAY_MS / 2 + Math.random() * (ceiling - MIN_DELAY_MS / 2);
      this.failures += 1;
      const reason = event.code === 4008 ? "The page fell behind the stream." : "The connection dropped.";
      this.report({ state: "reconnecting", retryAt: Date.now() + delay, reason });
      this.retryTimer = window.setTimeout(() => this.connect(), delay);
    };
  }

  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case "event":
        this.handlers.onEvents([frame]);
        break;
      case "progress":
        this.handlers.onProgress?.(frame);
        break;
      case "batch": {
        // The events go first: a progress moves the page's seq cursor, and an event of the
        // frame after it (a higher seq) or before it (lower) must not find it moved past.
        const events = frame.events.filter((e): e is RunEvent => e.type === "event");
        if (events.length) this.handlers.onEvents(events);
        for (const e of frame.events) if (e.type === "progress") this.handlers.onProgress?.(e);
        break;
      }
      case "snapshot":
        this.handlers.onSnapshot?.(frame.runs, frame.truncated);
        break;
      case "error":
        console.warn("live stream:", frame.detail);
        break;
      default:
        break;
    }
  }

  private schedulePing(): void {
    window.clearTimeout(this.pingTimer);
    this.pingTimer = window.setTimeout(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ type: "ping" }));
      // A connection that answers nothing is dead though the browser has not noticed.
      this.pongTimer = window.setTimeout(() => ws.close(4000), PONG_WITHIN_MS);
      this.schedulePing();
    }, PING_EVERY_MS);
  }

  private clearTimers(): void {
    window.clearTimeout(this.retryTimer);
    window.clearTimeout(this.pingTimer);
    window.clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }
}

/** Keep one LiveSocket open while the component is mounted; returns its status. */
export function useLiveSocket(path: string, handlers: LiveHandlers): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>({ state: "connecting", retryAt: null, reason: null });
  // The handlers change with every render; the socket calls the latest ones.
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const socket = new LiveSocket(
      path,
      {
        onEvents: (events) => latest.current.onEvents(events),
        onProgress: (progress) => latest.current.onProgress?.(progress),
        onSnapshot: (runs, truncated) => latest.current.onSnapshot?.(runs, truncated),
        query: () => latest.current.query?.() ?? {},
        onReconnect: () => latest.current.onReconnect?.(),
      },
      setStatus,
    );
    socket.start();
    return () => socket.stop();
  }, [path]);
  return status;
}
