// Unsaved work kept in this browser. The server stores only valid drafts, so a
// canvas with an error (a step just dropped, its URL not written yet) cannot be
// saved; it is kept in localStorage instead, per user, workflow and version being
// edited, until it is saved or discarded, and offered back when the designer opens.
import { cleanLayout, layeredLayout, missingPositions } from "../graph/model";
import { asSpec } from "../graph/spec";
import type { Layout, Spec } from "../types";
import { specKey, type Doc } from "./doc";

const PREFIX = "sagaboard:designer:unsaved";
const FORMAT = 1;

export interface UnsavedWork {
  format: typeof FORMAT;
  workflow: string;
  /** The version being edited, or null for a new draft. */
  version: number | null;
  /** What the work started from: the version a new draft was started from, or the
   *  draft itself, with the time the server last changed it. */
  base: { number: number | null; updated_at: string | null };
  /** When this browser kept it (ISO 8601). */
  saved_at: string;
  spec: Spec;
  layout: Layout;
  note: string;
}

/** One slot per user (a shared browser), workflow and version being edited ("new": a new draft). */
export function unsavedKey(user: string, workflow: string, version: number | null): string {
  return [PREFIX, encodeURIComponent(user), encodeURIComponent(workflow), version ?? "new"].join(":");
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled by the browser's settings
  }
}

function isWork(value: unknown): value is UnsavedWork {
  if (!value || typeof value !== "object") return false;
  const work = value as Partial<UnsavedWork>;
  return (
    work.format === FORMAT &&
    typeof work.saved_at === "string" &&
    typeof work.note === "string" &&
    !!work.spec &&
    Array.isArray(work.spec.steps) &&
    !!work.layout &&
    typeof work.layout === "object" &&
    !!work.base &&
    typeof work.base === "object"
  );
}

export function readUnsaved(key: string): UnsavedWork | null {
  try {
    const text = storage()?.getItem(key);
    if (!text) return null;
    const parsed: unknown = JSON.parse(text);
    return isWork(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** Keeps the work; false when the browser would not (storage full or disabled). */
export function writeUnsaved(key: string, work: UnsavedWork): boolean {
  try {
    const store = storage();
    if (!store) return false;
    store.setItem(key, JSON.stringify(work));
    return true;
  } catch {
    return false;
  }
}

export function clearUnsaved(key: string): void {
  try {
    storage()?.removeItem(key);
  } catch {
    // nothing kept, nothing to clear
  }
}

/**
 * Whether kept work says something the server's copy does not. Positions count only
 * where the server has them all: a version stored without a layout is laid out anew
 * on opening, which is no change of the author's.
 */
export function differsFrom(work: UnsavedWork, server: Doc, serverNote: string): boolean {
  if (specKey(work.spec) !== specKey(server.spec) || work.note !== serverNote) return true;
  if (missingPositions(server)) return false;
  return JSON.stringify(cleanLayout({ spec: work.spec, layout: work.layout })) !== JSON.stringify(cleanLayout(server));
}

/** The document kept work restores: its positions, and layers by depth for steps without. */
export function restoredDoc(work: UnsavedWork): Doc {
  const spec = asSpec(work.spec);
  const next = { spec, layout: work.layout };
  return missingPositions(next) ? { spec, layout: { ...layeredLayout(spec), ...work.layout } } : next;
}

// --- the sample input -------------------------------------------------------------------------

const SAMPLE_PREFIX = "sagaboard:designer:sample";

/** One sample input per user and workflow: the same for each of its versions. */
export function sampleKey(user: string, workflow: string): string {
  return [SAMPLE_PREFIX, encodeURIComponent(user), encodeURIComponent(workflow)].join(":");
}

/** The sample input's text as the author last left it, or null. */
export function readSample(key: string): string | null {
  try {
    return storage()?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

export function writeSample(key: string, text: string): void {
  try {
    storage()?.setItem(key, text);
  } catch {
    // storage full or disabled: the sample lives as long as the page
  }
}
