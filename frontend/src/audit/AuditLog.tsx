// The audit log: a table of entries, newest first, as GET /api/audit/ answers for the
// page's filters (the server-rendered form above it); "Load more" adds the next page by
// the API's keyset cursor. Not live: an audit log is read, not watched.
import { useEffect, useRef, useState } from "react";
import { client, messageOf, ok } from "../common/client";
import { Time } from "../common/time";
import type { components, operations } from "../generated/api";
import { Clamped, shortId } from "../live/common";

export type AuditEntry = components["schemas"]["AuditEntry"];
type AuditQuery = NonNullable<operations["audit_list"]["parameters"]["query"]>;

export interface AuditConfig {
  api: string;
  /** The filters as the API takes them (the page's query string, what was given of it). */
  query: AuditQuery;
  page_size: number;
  /** The first page, and the cursor of the next one. */
  entries: AuditEntry[];
  next: string | null;
  /** Whether any filter narrows the log (the empty state says so). */
  filtered: boolean;
  run_url: string;
  version_url: string;
  workflow_url: string;
}

const RUN_PLACEHOLDER = "00000000-0000-0000-0000-000000000000";

function cursorOf(link: string | null | undefined): string | null {
  return link ? new URL(link, window.location.href).searchParams.get("cursor") : null;
}

/** What an entry acted on within its run: "step charge", "step pack, item 3". */
function where(detail: AuditEntry["detail"]): string | null {
  const step = typeof detail.step === "string" ? detail.step : null;
  if (step === null) return null;
  return typeof detail.index === "number" ? `step ${step}, item ${detail.index}` : `step ${step}`;
}

/** What else an entry says, in words: a review's decision, the versions a publication retired. */
function extras(entry: AuditEntry): string[] {
  const out: string[] = [];
  const { decision, retired } = entry.detail;
  if (typeof decision === "string") out.push(decision.replaceAll("_", " "));
  if (Array.isArray(retired) && retired.length) out.push(`retired ${retired.map((n) => `v${n}`).join(", ")}`);
  const status = entry.changes.status;
  if (Array.isArray(status) && status.length === 2) out.push(`${status[0]} → ${status[1]}`.replaceAll("_", " "));
  return out;
}

export function AuditLog({ config }: { config: AuditConfig }) {
  const [entries, setEntries] = useState<AuditEntry[]>(config.entries);
  const [next, setNext] = useState<string | null>(config.next);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [said, setSaid] = useState("");
  /** The first row a "Load more" added: focus moves there, so the keyboard goes on from it. */
  const firstNew = useRef<HTMLTableRowElement>(null);
  const [focusFrom, setFocusFrom] = useState<number | null>(null);

  useEffect(() => {
    if (focusFrom !== null) firstNew.current?.focus();
  }, [focusFrom]);

  const more = () => {
    if (!next) return;
    setLoading(true);
    ok(client.GET("/api/audit/", { params: { query: { ...config.query, page_size: config.page_size, cursor: next } as AuditQuery } }))
      .then((page) => {
        setFocusFrom(entries.length);
        setEntries((shown) => [...shown, ...page.results]);
        setNext(cursorOf(page.next));
        setSaid(`${page.results.length} more ${page.results.length === 1 ? "entry" : "entries"} shown.`);
        setProblem(null);
      })
      .catch((err: unknown) => setProblem(messageOf(err)))
      .finally(() => setLoading(false));
  };

  const runUrl = (id: string) => config.run_url.replace(RUN_PLACEHOLDER, id);
  const versionUrl = (slug: string, n: number) => config.version_url.replace("__slug__", slug).replace("999999999", String(n));
  const workflowUrl = (slug: string) => config.workflow_url.replace("__slug__", slug);

  return (
    <section className="card card-flush" aria-labelledby="audit-title">
      <div className="card-head">
        <h2 id="audit-title">Entries</h2>
        <span className="muted">newest first · {entries.length} shown</span>
      </div>
      {entries.length ? (
        <div className="table-scroll" tabIndex={0} role="region" aria-labelledby="audit-title">
          <table className="table audit-table" data-testid="audit" role="table">
            <thead role="rowgroup">
              <tr role="row">
                <th scope="col" role="columnheader">When</th>
                <th scope="col" role="columnheader">Who</th>
                <th scope="col" role="columnheader">Act</th>
                <th scope="col" role="columnheader">Workflow</th>
                <th scope="col" role="columnheader">On</th>
                <th scope="col" role="columnheader">Reason and detail</th>
              </tr>
            </thead>
            <tbody role="rowgroup">
              {entries.map((entry, i) => {
                const place = where(entry.detail);
                const more = extras(entry);
                return (
                  <tr role="row" key={entry.id} data-act={entry.act} ref={i === focusFrom ? firstNew : undefined} tabIndex={i === focusFrom ? -1 : undefined}>
                    <td role="cell" data-label="When" className="nowrap"><Time iso={entry.at} /></td>
                    <td role="cell" data-label="Who">{entry.actor ?? <span className="muted">Sagaboard</span>}</td>
                    <td role="cell" data-label="Act"><code>{entry.act}</code></td>
                    <td role="cell" data-label="Workflow">{entry.workflow ? <a href={workflowUrl(entry.workflow)}>{entry.workflow_name ?? entry.workflow}</a> : <span className="muted">—</span>}</td>
                    <td role="cell" data-label="On" className="audit-on">
                      {entry.run && (
                        <a className="mono" href={runUrl(entry.run)}>
                          <span className="sr-only">run </span>{shortId(entry.run)}
                        </a>
                      )}
                      {entry.version !== null && entry.workflow && <a href={versionUrl(entry.workflow, entry.version)}>v{entry.version}</a>}
                      {place && <span className="muted">{place}</span>}
                      {!entry.run && entry.version === null && !place && <span className="muted">the workflow</span>}
                    </td>
                    <td role="cell" data-label="Reason" className="audit-reason">
                      {entry.reason ? <Clamped text={entry.reason} /> : null}
                      {more.length > 0 && <span className="muted audit-extras">{more.join(" · ")}</span>}
                      {!entry.reason && !more.length && <span className="muted">—</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : (
        <div className="empty">
          <p><strong>{config.filtered ? "No entries match these filters." : "Nothing has been audited yet."}</strong></p>
          <p className="muted">
            {config.filtered
              ? "Clear a filter or widen the time range."
              : "Acts on runs, reviews, publications and permission changes appear here as they happen."}
          </p>
        </div>
      )}
      {problem && <p className="alert alert-error" role="alert">Could not load more: {problem}</p>}
      <div className="card-foot center">
        {next && (
          <button type="button" className="btn" onClick={more} disabled={loading} aria-describedby="audit-more-said">
            {loading ? "Loading…" : "Load more"}
          </button>
        )}
        <span id="audit-more-said" className="sr-only" role="status" aria-live="polite">{said}</span>
        {!next && entries.length > 0 && <span className="muted">That is every entry.</span>}
      </div>
    </section>
  );
}
