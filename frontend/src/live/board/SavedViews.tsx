// The board's saved views: the user's own and the shared ones they see, each a link to
// the board it shows, and "Save this view", which keeps the filters applied now under a
// name (POST /api/views/). A refusal is said by the field it names. After a save the
// focus goes to the new view's link; after a delete, to the next view (or the heading).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, client, messageOf, ok } from "../../common/client";
import { stamp } from "../../common/time";
import type { BoardConfig, SavedView } from "../types";

interface Errors {
  name?: string;
  /** What the server said of the filter, or of nothing in particular. */
  other?: string;
}

const byName = (a: SavedView, b: SavedView) => a.name.localeCompare(b.name) || a.owner.localeCompare(b.owner);

/** The filters applied now, as the run list's parameters, blanks left out. */
function currentFilter(config: BoardConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(config.query).filter(([, value]) => value !== ""));
}

/** Whether ``url`` (a view's board_url) is the board as shown now. */
function isCurrent(url: string): boolean {
  const norm = (params: URLSearchParams) =>
    JSON.stringify([...params].filter(([, v]) => v !== "").sort(([a], [b]) => a.localeCompare(b)));
  const there = new URL(url, window.location.href);
  return there.pathname === window.location.pathname && norm(there.searchParams) === norm(new URLSearchParams(window.location.search));
}

export function SavedViews({ config }: { config: BoardConfig }) {
  const [views, setViews] = useState<SavedView[]>(() => [...config.views].sort(byName));
  const [name, setName] = useState("");
  const [shared, setShared] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState("");
  const [confirming, setConfirming] = useState<number | null>(null);
  const [focusOn, setFocusOn] = useState<{ target: string } | null>(null);
  const root = useRef<HTMLElement>(null);
  const nameInput = useRef<HTMLInputElement>(null);

  // Focus moves once the list has rendered the change it follows.
  useEffect(() => {
    if (focusOn) root.current?.querySelector<HTMLElement>(focusOn.target)?.focus();
  }, [focusOn]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setSaid("");
    try {
      const view = await ok(client.POST("/api/views/", { body: { name, filter: currentFilter(config), shared } }));
      setViews((list) => [...list, view].sort(byName));
      setName("");
      setShared(false);
      setSaid(`Saved the view “${view.name}”.`);
      setFocusOn({ target: `[data-view="${view.id}"] a` });
    } catch (err) {
      const found: Errors = {};
      if (err instanceof ApiError && err.errors.length) {
        for (const issue of err.errors) {
          if (issue.field === "name") found.name = issue.message;
          else found.other = `${issue.field ? `${issue.field}: ` : ""}${issue.message}`;
        }
      } else {
        found.other = messageOf(err);
      }
      setErrors(found);
      if (found.name) nameInput.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const remove = async (view: SavedView) => {
    setBusy(true);
    setSaid("");
    try {
      await ok(client.DELETE("/api/views/{view_id}/", { params: { path: { view_id: view.id } } }));
      const at = views.findIndex((v) => v.id === view.id);
      const rest = views.filter((v) => v.id !== view.id);
      setViews(rest);
      setConfirming(null);
      setSaid(`Deleted the view “${view.name}”.`);
      const next = rest[Math.min(at, rest.length - 1)];
      setFocusOn({ target: next ? `[data-view="${next.id}"] a` : "#views-title" });
    } catch (err) {
      setConfirming(null);
      setSaid(`The view “${view.name}” was not deleted: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const cancel = (view: SavedView) => {
    setConfirming(null);
    setFocusOn({ target: `[data-view="${view.id}"] [data-act="delete"]` });
  };

  return (
    <section className="card views-card" aria-labelledby="views-title" ref={root}>
      <div className="views-list-part">
        <h2 id="views-title" tabIndex={-1}>Views</h2>
        {views.length ? (
          <ul className="views-list">
            {views.map((view) => (
              <li key={view.id} data-view={view.id} className="view-item">
                <a href={view.board_url} aria-current={isCurrent(view.board_url) ? "page" : undefined}>{view.name}</a>{" "}
                <span className={`badge view-${view.shared ? "shared" : "private"}`}>{view.shared ? `shared by ${view.owner}` : "private"}</span>
                {view.acts.includes("delete") &&
                  (confirming === view.id ? (
                    <span className="view-confirm" role="group" aria-label={`Delete the view ${view.name}?`} onKeyDown={(e) => e.key === "Escape" && cancel(view)}>
                      <span>Delete it?</span>
                      <button type="button" className="btn btn-small btn-danger" onClick={() => remove(view)} disabled={busy} data-act="confirm-delete">
                        Delete
                      </button>
                      <button type="button" className="btn btn-small" onClick={() => cancel(view)} data-act="keep">
                        Keep
                      </button>
                    </span>
                  ) : (
                    <button
                      type="button"
                      className="btn btn-small btn-ghost"
                      data-act="delete"
                      aria-label={`Delete the view ${view.name}`}
                      onClick={() => {
                        setConfirming(view.id);
                        setFocusOn({ target: `[data-view="${view.id}"] [data-act="keep"]` });
                      }}
                    >
                      Delete
                    </button>
                  ))}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted views-empty">No saved views yet. Filter the runs, then save the filters here to come back to them by link.</p>
        )}
        <p className="views-said muted" role="status" aria-live="polite">{said}</p>
      </div>
      <form className="view-save" onSubmit={save} aria-labelledby="view-save-title" noValidate>
        <h3 id="view-save-title">Save this view</h3>
        {config.problem ? (
          <p className="muted">Fix the filters above to save them as a view.</p>
        ) : (
          <>
            <div className={`view-save-fields${errors.name ? " has-error" : ""}`}>
              <label htmlFor="view-name">Name</label>
              <input
                id="view-name"
                ref={nameInput}
                value={name}
                maxLength={100}
                required
                onChange={(e) => setName(e.target.value)}
                aria-invalid={errors.name ? true : undefined}
                aria-describedby={errors.name ? "view-name-error" : "view-save-help"}
              />
              <span className="filter-check">
                <input type="checkbox" id="view-shared" checked={shared} onChange={(e) => setShared(e.target.checked)} />
                <label htmlFor="view-shared">Share with everyone who may see its workflows</label>
              </span>
              <button type="submit" className="btn btn-primary" disabled={busy}>Save view</button>
            </div>
            {errors.name && <p className="field-error" id="view-name-error">{errors.name}</p>}
            {errors.other && <p className="field-error" role="alert">The view was not saved: {errors.other}</p>}
            <p className="help" id="view-save-help">
              Keeps the filters applied now{config.period && config.query.since ? `; “${config.period}” is kept as runs started since ${stamp(config.query.since)} UTC` : ""}.
            </p>
          </>
        )}
      </form>
    </section>
  );
}
