// The designer: palette, canvas and side panel over one document (spec + layout),
// with undo, on-the-fly validation by the server, auto-layout, simulation and saving.
import {
  Background,
  Controls,
  getViewportForBounds,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
  type Viewport,
} from "@xyflow/react";
import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useReducer,
  useRef,
  useState,
  type DragEvent,
} from "react";
import { Api, ApiError } from "../api";
import type { Activity, Group, Simulation, Spec, StepType, ValidationResult, Version } from "../types";
import { versionUrl, type DesignerConfig } from "./config";
import { useCanvasElements } from "./elements";
import type { PanelIssue } from "./fields";
import { historyReducer, initHistory } from "./history";
import {
  asSpec,
  cleanLayout,
  connect,
  copySteps,
  emptySpec,
  idProblem,
  indexOfNode,
  issuesByNode,
  layeredLayout,
  layoutBounds,
  missingPositions,
  NODE_HEIGHT,
  NODE_WIDTH,
  newStep,
  nodeIds,
  pasteClip,
  removeElements,
  renameStep,
  replaceStep,
  specKey,
  layoutKey,
  zones,
  type Clip,
  type Doc,
} from "./model";
import { Palette, PALETTE_MIME } from "./Palette";
import { RestoreBanner } from "./RestoreBanner";
import { SimulatePanel } from "./SimulatePanel";
import { nodeTypes } from "./StepNode";
import { StepPanel } from "./StepPanel";
import { ToastView, type Toast } from "./Toast";
import { Toolbar } from "./Toolbar";
import { clearUnsaved, differsFrom, readUnsaved, unsavedKey, writeUnsaved, type UnsavedWork } from "./unsaved";
import { WorkflowPanel } from "./WorkflowPanel";

const VALIDATE_DELAY_MS = 300;
/** How long the canvas must be still before it is kept in this browser again. */
const KEEP_DELAY_MS = 400;
const MIN_ZOOM = 0.02;
const FIT_PADDING = 0.12;

/**
 * The view that shows every box in a pane of this size. Computed before the first
 * render, so a big workflow is drawn once, already fitted, instead of at 100 % and
 * then again.
 */
function fitted(doc: Doc, width: number, height: number): Viewport {
  const bounds = layoutBounds(doc);
  if (!bounds || width <= 0 || height <= 0) return { x: 40, y: 40, zoom: 1 };
  return getViewportForBounds(bounds, width, height, MIN_ZOOM, 1, FIT_PADDING);
}

export function Designer({ config }: { config: DesignerConfig }) {
  return (
    <ReactFlowProvider>
      <DesignerCanvas config={config} />
    </ReactFlowProvider>
  );
}

function initialDoc(config: DesignerConfig): Doc {
  if (config.version) return { spec: asSpec(config.version.spec), layout: config.version.layout ?? {} };
  if (config.start) return { spec: asSpec(config.start.spec), layout: config.start.layout ?? {} };
  return { spec: emptySpec(), layout: {} };
}

function savedKeyOf(doc: Doc, note: string): string {
  return `${specKey(doc.spec)}\n${layoutKey(doc)}\n${note}`;
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function DesignerCanvas({ config }: { config: DesignerConfig }) {
  const api = useMemo(() => new Api(config.api, config.workflow.slug), [config]);
  const flow = useReactFlow();
  const [version, setVersion] = useState<Version | null>(config.version);
  const [history, dispatch] = useReducer(historyReducer, config, (c) => initHistory(initialDoc(c)));
  const doc = history.present;
  const docRef = useRef(doc);
  docRef.current = doc;
  const [note, setNote] = useState(config.version?.note ?? "");
  // What the document was when last saved (null: never saved, a new draft), and what a
  // new draft started from, so that opening one and leaving it untouched warns of nothing.
  const [savedKey, setSavedKey] = useState<string | null>(() =>
    config.version ? savedKeyOf(initialDoc(config), config.version.note ?? "") : null,
  );
  const [startKey, setStartKey] = useState(() => savedKeyOf(initialDoc(config), ""));
  const readOnly = version ? !version.acts.includes("edit") : !config.can_create;
  const [activities, setActivities] = useState<Activity[]>([]);
  const [groups, setGroups] = useState<Group[]>([]);
  const [validation, setValidation] = useState<{ spec: Spec; result: ValidationResult } | null>(null);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [edgeSelection, setEdgeSelection] = useState<ReadonlySet<string>>(new Set());
  const [mode, setMode] = useState<"inspect" | "simulate">("inspect");
  const [sim, setSim] = useState<{ spec: Spec; result: Simulation } | null>(null);
  const [toast, setToast] = useState<Toast | null>(null);
  const [busy, setBusy] = useState<"save" | "submit" | "layout" | null>(null);
  const [layoutCount, setLayoutCount] = useState(0);
  // Unsaved work kept in this browser, one slot per version being edited; on opening,
  // what the slot holds is offered back when it says something the server's copy does not.
  const user = config.user;
  const storeKey = unsavedKey(user, config.workflow.slug, version?.number ?? null);
  const [offer, setOffer] = useState<UnsavedWork | null>(() => {
    const work = readUnsaved(unsavedKey(user, config.workflow.slug, config.version?.number ?? null));
    return work && differsFrom(work, initialDoc(config), config.version?.note ?? "") ? work : null;
  });
  const [kept, setKept] = useState(false);
  const keepNow = useRef<(() => void) | null>(null);
  const clip = useRef<Clip | null>(null);
  const pastes = useRef(0);
  const dragBase = useRef<Doc | null>(null);

  const commit = useCallback((next: Doc, key?: string) => dispatch({ type: "commit", doc: next, key }), []);

  useEffect(() => {
    performance.mark("designer:mounted");
  }, []);

  // --- server data: activities, groups, validation --------------------------------------
  useEffect(() => {
    api.activities().then(setActivities, () => setActivities([]));
    api.groups().then(setGroups, () => setGroups([]));
  }, [api]);

  useEffect(() => {
    const spec = doc.spec;
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      api.validate(spec, controller.signal).then(
        (result) => setValidation({ spec, result }),
        (err: unknown) => {
          if (controller.signal.aborted) return;
          const message = err instanceof ApiError ? err.message : "The validator could not be reached.";
          const errors = err instanceof ApiError && err.errors.length ? err.errors : [{ step: null, field: null, message }];
          setValidation({ spec, result: { valid: false, errors, warnings: [] } });
        },
      );
    }, VALIDATE_DELAY_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, doc.spec]);

  const checked = validation !== null && validation.spec === doc.spec;
  const result = validation?.result ?? null;
  const errorCount = result?.errors.length ?? 0;
  const dirty = !readOnly && (savedKey ?? startKey) !== savedKeyOf(doc, note);
  const canSave =
    !readOnly && (savedKey === null || dirty) && checked && errorCount === 0 && busy === null;
  const canSubmit =
    !readOnly && checked && errorCount === 0 && busy === null && doc.spec.steps.length > 0 &&
    (version === null || version.acts.includes("submit") || dirty);

  // --- unsaved work, kept in this browser --------------------------------------------------------
  useEffect(() => {
    if (!dirty) {
      keepNow.current = null;
      setKept(false);
      // Nothing unsaved: the slot goes, unless it holds work still offered for restoring.
      if (!offer) clearUnsaved(storeKey);
      return;
    }
    const work: UnsavedWork = {
      format: 1,
      workflow: config.workflow.slug,
      version: version?.number ?? null,
      base: version
        ? { number: version.number, updated_at: version.updated_at }
        : { number: config.start?.from ?? null, updated_at: null },
      saved_at: new Date().toISOString(),
      spec: doc.spec,
      layout: cleanLayout(doc),
      note,
    };
    const keep = () => {
      if (keepNow.current !== keep) return; // saved, or overtaken by a later change
      keepNow.current = null;
      setKept(writeUnsaved(storeKey, work));
    };
    keepNow.current = keep;
    const timer = window.setTimeout(keep, KEEP_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [config, dirty, doc, note, offer, storeKey, version]);

  useEffect(() => {
    // A tab closed within the delay keeps its last change too.
    const flush = () => keepNow.current?.();
    window.addEventListener("pagehide", flush);
    return () => window.removeEventListener("pagehide", flush);
  }, []);

  const restore = useCallback(() => {
    if (!offer) return;
    const spec = asSpec(offer.spec);
    const next = { spec, layout: offer.layout };
    commit(missingPositions(next) ? { spec, layout: { ...layeredLayout(spec), ...offer.layout } } : next);
    setNote(offer.note);
    setSelection(new Set());
    setEdgeSelection(new Set());
    setMode("inspect");
    setOffer(null);
    setToast({ kind: "info", text: "Restored the unsaved changes. Undo (Ctrl+Z) takes them back out." });
    window.requestAnimationFrame(() => flow.fitView({ padding: FIT_PADDING, maxZoom: 1, duration: 200 }));
  }, [commit, flow, offer]);

  // --- first positions: the server's layout for steps that have none ---------------------------
  const runLayout = useCallback(
    async (initial: boolean) => {
      const current = docRef.current;
      setBusy("layout");
      try {
        const laid = await api.layout({ steps: current.spec.steps.map((s) => ({ id: s.id, after: s.after ?? [] })) });
        const now = docRef.current;
        if (now.spec !== current.spec) return; // the steps changed meanwhile; a later layout will follow
        const next = { ...now, layout: laid.positions };
        if (initial) {
          dispatch({ type: "reset", doc: next });
          setSavedKey((key) => (key === null ? null : savedKeyOf(next, config.version?.note ?? "")));
          setStartKey(savedKeyOf(next, ""));
        } else {
          commit(next);
        }
        setLayoutCount((n) => n + 1);
        window.requestAnimationFrame(() => flow.fitView({ padding: FIT_PADDING, maxZoom: 1, duration: initial ? 0 : 200 }));
      } catch (err) {
        setToast({ kind: "error", text: err instanceof Error ? err.message : "The layout failed." });
      } finally {
        setBusy(null);
      }
    },
    [api, commit, config.version, flow],
  );

  const startDoc = useRef(doc);
  const pane = useRef<HTMLDivElement>(null);
  // A first guess from the window (the columns are fixed in designer.css), corrected
  // from the pane's real size before the first paint.
  const [firstView] = useState(() =>
    fitted(doc, window.innerWidth - (readOnly ? 0 : 210) - 380, window.innerHeight - 57 - 64),
  );
  useLayoutEffect(() => {
    const rect = pane.current?.getBoundingClientRect();
    if (rect && layoutBounds(startDoc.current)) void flow.setViewport(fitted(startDoc.current, rect.width, rect.height));
    // Only on opening: afterwards the view is the user's.
  }, []);
  const laidOutOnOpen = useRef(false);
  useEffect(() => {
    const first = startDoc.current;
    if (laidOutOnOpen.current) return;
    laidOutOnOpen.current = true;
    if (first.spec.steps.length && missingPositions(first)) {
      // Placeholders at once, so the canvas is never empty while the server lays it out.
      dispatch({ type: "reset", doc: { ...first, layout: { ...layeredLayout(first.spec), ...first.layout } } });
      void runLayout(true);
    }
  }, [runLayout]);

  // --- the canvas's nodes and edges --------------------------------------------------------------
  const zoneMap = useMemo(() => zones(doc.spec), [doc.spec]);
  const issueMap = useMemo(() => issuesByNode(doc.spec, result), [doc.spec, result]);
  const shownSim = sim && sim.spec === doc.spec ? sim.result : null;
  const { nodes, edges } = useCanvasElements({
    doc,
    zoneMap,
    issueMap,
    result,
    sim: mode === "simulate" ? shownSim : null,
    selection,
    edgeSelection,
    readOnly,
  });

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    let layout: Record<string, { x: number; y: number }> | null = null;
    const selected: [string, boolean][] = [];
    const ids = nodeIds(docRef.current.spec);
    for (const change of changes) {
      if (change.type === "select") selected.push([change.id, change.selected]);
      else if (change.type === "position" && change.position) {
        const index = ids.indexOf(change.id);
        if (index < 0) continue;
        layout ??= { ...docRef.current.layout };
        layout[docRef.current.spec.steps[index].id] = change.position;
      }
    }
    if (selected.length) {
      setSelection((prev) => {
        const next = new Set(prev);
        for (const [id, on] of selected) {
          if (on) next.add(id);
          else next.delete(id);
        }
        return next;
      });
    }
    if (layout) dispatch({ type: "transient", doc: { ...docRef.current, layout } });
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const selected = changes.filter((c) => c.type === "select");
    if (!selected.length) return;
    setEdgeSelection((prev) => {
      const next = new Set(prev);
      for (const c of selected) {
        if (c.type !== "select") continue;
        if (c.selected) next.add(c.id);
        else next.delete(c.id);
      }
      return next;
    });
  }, []);

  const onConnect = useCallback(
    (connection: Connection) => {
      if (readOnly || !connection.source || !connection.target) return;
      commit(connect(docRef.current, connection.source, connection.target));
    },
    [commit, readOnly],
  );

  // --- adding, deleting, copying ------------------------------------------------------------------
  const addStep = useCallback(
    (type: StepType, at: { x: number; y: number }) => {
      if (readOnly) return;
      const current = docRef.current;
      const step = newStep(type, current.spec.steps.map((s) => s.id), activities, groups);
      const next = {
        spec: { ...current.spec, steps: [...current.spec.steps, step] },
        layout: { ...current.layout, [step.id]: { x: Math.round(at.x), y: Math.round(at.y) } },
      };
      commit(next);
      setSelection(new Set([step.id]));
      setEdgeSelection(new Set());
      setMode("inspect");
    },
    [activities, commit, groups, readOnly],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (!event.dataTransfer.types.includes(PALETTE_MIME)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(PALETTE_MIME) as StepType;
      if (!type) return;
      event.preventDefault();
      const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addStep(type, { x: at.x - NODE_WIDTH / 2, y: at.y - NODE_HEIGHT / 2 });
    },
    [addStep, flow],
  );

  const addAtCentre = useCallback(
    (type: StepType) => {
      const pane = document.querySelector(".designer-canvas")?.getBoundingClientRect();
      const centre = pane
        ? flow.screenToFlowPosition({ x: pane.left + pane.width / 2, y: pane.top + pane.height / 2 })
        : { x: 0, y: 0 };
      const jitter = (docRef.current.spec.steps.length % 5) * 24;
      addStep(type, { x: centre.x - NODE_WIDTH / 2 + jitter, y: centre.y - NODE_HEIGHT / 2 + jitter });
    },
    [addStep, flow],
  );

  const deleteSelection = useCallback(() => {
    if (readOnly || (!selection.size && !edgeSelection.size)) return;
    const edgePairs = edges
      .filter((e) => edgeSelection.has(e.id))
      .map((e) => [e.source, e.target] as [string, string]);
    commit(removeElements(docRef.current, [...selection], edgePairs));
    setSelection(new Set());
    setEdgeSelection(new Set());
  }, [commit, edgeSelection, edges, readOnly, selection]);

  const copy = useCallback(() => {
    const copied = copySteps(docRef.current, [...selection]);
    if (!copied) return;
    clip.current = copied;
    pastes.current = 0;
    setToast({ kind: "info", text: `Copied ${copied.steps.length} step${copied.steps.length === 1 ? "" : "s"}.` });
  }, [selection]);

  const paste = useCallback(() => {
    if (readOnly || !clip.current) return;
    pastes.current += 1;
    const shift = 40 * pastes.current;
    const { doc: next, ids } = pasteClip(docRef.current, clip.current, { x: shift, y: shift });
    commit(next);
    setSelection(new Set(ids));
    setEdgeSelection(new Set());
  }, [commit, readOnly]);

  // --- saving and submitting --------------------------------------------------------------------------
  const save = useCallback(async (): Promise<Version | null> => {
    const sent = docRef.current;
    const sentNote = note;
    const sentKey = storeKey;
    setBusy("save");
    try {
      const layout = cleanLayout(sent);
      const saved =
        version && version.status === "draft"
          ? await api.updateVersion(version.number, sent.spec, layout, sentNote)
          : await api.createVersion(sent.spec, layout, sentNote);
      setVersion(saved);
      setSavedKey(savedKeyOf(sent, sentNote));
      // Stored by the server now: this browser's copy goes (a change made while saving
      // is kept again, under the saved version).
      keepNow.current = null;
      clearUnsaved(sentKey);
      if (!version || version.number !== saved.number) {
        window.history.replaceState(null, "", versionUrl(config, saved.number, "designer"));
      }
      const warned = saved.warnings?.length ?? 0;
      setToast({
        kind: "success",
        text: `Saved draft v${saved.number}.${warned ? ` ${warned} warning${warned === 1 ? "" : "s"} remain.` : ""}`,
      });
      return saved;
    } catch (err) {
      setToast({ kind: "error", text: err instanceof ApiError ? [err.message, ...err.errors.map((e) => e.message)].join(" ") : String(err) });
      return null;
    } finally {
      setBusy(null);
    }
  }, [api, config, note, storeKey, version]);

  const submit = useCallback(async () => {
    let target = version;
    if (dirty || !target) target = await save();
    if (!target) return;
    setBusy("submit");
    try {
      const submitted = await api.submit(target.number);
      setVersion(submitted);
      setToast({
        kind: "success",
        text: `v${submitted.number} is in review.`,
        link: { href: versionUrl(config, submitted.number, "review"), label: "Open the review page" },
      });
    } catch (err) {
      setToast({ kind: "error", text: err instanceof ApiError ? err.message : String(err) });
    } finally {
      setBusy(null);
    }
  }, [api, config, dirty, save, version]);

  // --- import and export -----------------------------------------------------------------------------
  const importText = useCallback(
    async (text: string) => {
      try {
        const parsed = await api.convert(text, "json");
        const spec = asSpec(parsed.spec);
        const laid = spec.steps.length
          ? await api.layout({ steps: spec.steps.map((s) => ({ id: String(s.id), after: s.after ?? [] })) })
          : { positions: {} };
        commit({ spec, layout: laid.positions });
        setSelection(new Set());
        setEdgeSelection(new Set());
        setToast({ kind: "success", text: `Imported ${spec.steps.length} steps. Undo (Ctrl+Z) brings back what was here.` });
        window.requestAnimationFrame(() => flow.fitView({ padding: FIT_PADDING, maxZoom: 1, duration: 200 }));
      } catch (err) {
        setToast({ kind: "error", text: `Not imported: ${err instanceof Error ? err.message : String(err)}` });
      }
    },
    [api, commit, flow],
  );

  const exportAs = useCallback(
    async (format: "json" | "yaml") => {
      const base = `${config.workflow.slug}${version ? `-v${version.number}` : "-draft"}`;
      try {
        if (format === "json") {
          download(`${base}.json`, `${JSON.stringify(docRef.current.spec, null, 2)}\n`, "application/json");
        } else {
          const { text } = await api.convert(docRef.current.spec, "yaml");
          download(`${base}.yaml`, text, "application/yaml");
        }
      } catch (err) {
        setToast({ kind: "error", text: err instanceof Error ? err.message : String(err) });
      }
    },
    [api, config.workflow.slug, version],
  );

  // --- keyboard ---------------------------------------------------------------------------------------
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (ctrl && key === "s") {
        event.preventDefault();
        if (canSave) void save();
        else if (!readOnly && checked && errorCount > 0) {
          setToast({
            kind: "info",
            text: `Not saved: fix ${errorCount} error${errorCount === 1 ? "" : "s"} first; only valid drafts are stored.${kept ? " Your changes are kept in this browser meanwhile." : ""}`,
          });
        }
        return;
      }
      if (isEditable(event.target)) return;
      if (ctrl && key === "z" && !event.shiftKey) {
        event.preventDefault();
        if (!readOnly) dispatch({ type: "undo" });
      } else if (ctrl && ((key === "z" && event.shiftKey) || key === "y")) {
        event.preventDefault();
        if (!readOnly) dispatch({ type: "redo" });
      } else if (ctrl && key === "c") {
        copy();
      } else if (ctrl && key === "v") {
        event.preventDefault();
        paste();
      } else if (!ctrl && !event.altKey && (key === "delete" || key === "backspace")) {
        event.preventDefault();
        deleteSelection();
      } else if (!ctrl && !event.altKey && key === "f") {
        event.preventDefault();
        void flow.fitView({ padding: FIT_PADDING, maxZoom: 1, duration: 200 });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canSave, checked, copy, deleteSelection, errorCount, flow, kept, paste, readOnly, save]);

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const dismissToast = useCallback(() => setToast(null), []);

  // --- the side panel ------------------------------------------------------------------------------------
  const tagged = (kind: "error" | "warning", list: ValidationResult["errors"]): PanelIssue[] =>
    list.map((i) => ({ ...i, kind }));
  const allIssues = result ? [...tagged("error", result.errors), ...tagged("warning", result.warnings)] : [];
  const selectedIds = [...selection];
  const single = selectedIds.length === 1 ? selectedIds[0] : null;
  const singleIndex = single === null ? -1 : indexOfNode(doc.spec, single);

  const pick = useCallback((stepId: string) => {
    const ids = nodeIds(docRef.current.spec);
    const i = docRef.current.spec.steps.findIndex((s) => s.id === stepId);
    const nodeId = /^steps\[\d+\]$/.test(stepId) ? stepId : i >= 0 ? ids[i] : null;
    if (!nodeId) return;
    setSelection(new Set([nodeId]));
    setEdgeSelection(new Set());
    setMode("inspect");
    const at = docRef.current.layout[docRef.current.spec.steps[ids.indexOf(nodeId)]?.id ?? ""];
    if (at) void flow.setCenter(at.x + NODE_WIDTH / 2, at.y + NODE_HEIGHT / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 250 });
  }, [flow]);

  let panel;
  if (mode === "simulate") {
    panel = (
      <SimulatePanel
        api={api}
        spec={doc.spec}
        valid={checked && errorCount === 0}
        current={shownSim}
        onShow={(s) => setSim(s ? { spec: doc.spec, result: s } : null)}
      />
    );
  } else if (singleIndex >= 0) {
    const step = doc.spec.steps[singleIndex];
    const own = issueMap.get(single ?? "");
    panel = (
      <StepPanel
        key={single ?? ""}
        step={step}
        zone={zoneMap.get(step.id) ?? "compensable"}
        issues={[...tagged("error", own?.errors ?? []), ...tagged("warning", own?.warnings ?? [])]}
        readOnly={readOnly}
        activities={activities}
        groups={groups}
        onChange={(next, key) => commit(replaceStep(docRef.current, singleIndex, next), `${single}:${key}`)}
        onRename={(id) => {
          const problem = idProblem(docRef.current.spec, singleIndex, id);
          if (problem) return problem;
          commit(renameStep(docRef.current, singleIndex, id));
          setSelection(new Set([id]));
          return null;
        }}
        onDelete={() => {
          commit(removeElements(docRef.current, [single ?? ""], []));
          setSelection(new Set());
        }}
      />
    );
  } else if (selectedIds.length > 1) {
    panel = (
      <div className="panel-body" data-panel="many">
        <div className="panel-title">
          <h2>{selectedIds.length} steps selected</h2>
        </div>
        <div className="panel-actions">
          <button type="button" className="btn btn-small" onClick={copy}>Copy</button>
          {!readOnly && <button type="button" className="btn btn-small btn-danger" onClick={deleteSelection}>Delete</button>}
        </div>
        <p className="panel-help">Ctrl+C copies them, Ctrl+V pastes them with new ids, Delete removes them.</p>
      </div>
    );
  } else {
    panel = (
      <WorkflowPanel
        spec={doc.spec}
        note={note}
        issues={tagged("error", issueMap.get("")?.errors ?? []).concat(tagged("warning", issueMap.get("")?.warnings ?? []))}
        allIssues={allIssues}
        readOnly={readOnly}
        onChange={(spec, key) => commit({ ...docRef.current, spec }, `spec:${key}`)}
        onNote={setNote}
        onPick={pick}
      />
    );
  }

  const validationState = !checked ? "checking" : errorCount ? "invalid" : "valid";

  return (
    <div
      className={`designer${readOnly ? " is-readonly" : ""}${mode === "simulate" ? " is-simulating" : ""}`}
      data-validation={validationState}
      data-dirty={dirty ? "true" : "false"}
      data-layouts={layoutCount}
      data-version={version?.number ?? ""}
      data-status={version?.status ?? "new"}
    >
      <Toolbar
        config={config}
        version={version}
        readOnly={readOnly}
        dirty={dirty}
        neverSaved={savedKey === null}
        busy={busy}
        validationState={validationState}
        errors={errorCount}
        warnings={result?.warnings.length ?? 0}
        canUndo={history.past.length > 0 && !readOnly}
        canRedo={history.future.length > 0 && !readOnly}
        canSave={canSave}
        canSubmit={canSubmit}
        canDelete={!readOnly && (selection.size > 0 || edgeSelection.size > 0)}
        simulating={mode === "simulate"}
        kept={kept}
        onUndo={() => dispatch({ type: "undo" })}
        onRedo={() => dispatch({ type: "redo" })}
        onDelete={deleteSelection}
        onLayout={() => void runLayout(false)}
        onFit={() => void flow.fitView({ padding: FIT_PADDING, maxZoom: 1, duration: 200 })}
        onSave={() => void save()}
        onSubmit={() => void submit()}
        onSimulate={() => setMode((m) => (m === "simulate" ? "inspect" : "simulate"))}
        onShowProblems={() => {
          setSelection(new Set());
          setMode("inspect");
        }}
        onImport={(text) => void importText(text)}
        onExport={(format) => void exportAs(format)}
      >
        {offer && (
          <RestoreBanner
            work={offer}
            version={version}
            readOnly={readOnly}
            onRestore={restore}
            onDiscard={() => setOffer(null)}
            onExport={() => {
              const name = `${config.workflow.slug}-${offer.version ? `v${offer.version}` : "draft"}-unsaved.json`;
              download(name, `${JSON.stringify(offer.spec, null, 2)}\n`, "application/json");
            }}
          />
        )}
      </Toolbar>
      <div className="designer-body">
        {!readOnly && <Palette onAdd={addAtCentre} />}
        <div className="designer-canvas" ref={pane} onDragOver={onDragOver} onDrop={onDrop}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeDragStart={() => {
              dragBase.current = docRef.current;
            }}
            onNodeDragStop={() => {
              if (dragBase.current) dispatch({ type: "record", base: dragBase.current });
              dragBase.current = null;
            }}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            elementsSelectable
            deleteKeyCode={null}
            selectionKeyCode="Shift"
            multiSelectionKeyCode={["Meta", "Control"]}
            defaultViewport={firstView}
            minZoom={MIN_ZOOM}
            maxZoom={2}
            defaultEdgeOptions={{ type: "default" }}
          >
            <Background gap={20} size={1} color="#d9dde4" />
            <MiniMap pannable zoomable nodeClassName={(n) => `minimap-node ${String((n.data as { zone?: string }).zone ?? "")}`} />
            <Controls showInteractive={false} fitViewOptions={{ padding: FIT_PADDING, maxZoom: 1 }} />
          </ReactFlow>
          <ToastView toast={toast} onDismiss={dismissToast} />
          {doc.spec.steps.length === 0 && !readOnly && (
            <div className="canvas-empty">
              <p><strong>An empty canvas.</strong></p>
              <p>Drag steps from the palette, then connect a step's right handle to the next step's left handle.</p>
            </div>
          )}
        </div>
        <aside className="designer-panel" aria-label="Details">
          <div className="panel-tabs" role="tablist">
            <button type="button" role="tab" aria-selected={mode === "inspect"} onClick={() => setMode("inspect")}>
              {single ? "Step" : selectedIds.length > 1 ? "Selection" : "Workflow"}
            </button>
            <button type="button" role="tab" aria-selected={mode === "simulate"} onClick={() => setMode("simulate")}>
              Simulate
            </button>
          </div>
          {panel}
        </aside>
      </div>
    </div>
  );
}
