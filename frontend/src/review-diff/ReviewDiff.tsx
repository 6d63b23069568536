// The review page's visual diff: both versions on one read-only canvas, added
// steps green, removed red, changed amber; a click on a step shows its fields old -> new.
// The canvas takes the card's width and grows with the graph up to a limit; it is
// never zoomed out so far that a step's name cannot be read: a graph too big for it
// at that zoom is shown from its start, to be panned, with a map of the whole.
import {
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Edge,
  type NodeMouseHandler,
  type Viewport,
} from "@xyflow/react";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { client, messageOf, ok } from "../common/client";
import { serverLayout } from "../graph/layout";
import { boundsOf, dependencies, edgeKey, zones, type Bounds, type Zone } from "../graph/model";
import { arrow, EDGE_COLOURS, Grid, STEP_BOX } from "../graph/nodes";
import { asSpec } from "../graph/spec";
import { nodeTypes, type DiffMark, type StepFlowNode } from "../graph/StepNode";
import type { AnyStep, Diff, FieldChange, Json, Layout, Spec } from "../types";

/** What the review page's element says (its data-* attributes). */
export interface ReviewDiffConfig {
  slug: string;
  number: number;
  against: number;
}

interface Loaded {
  oldSpec: Spec;
  newSpec: Spec;
  diff: Diff;
  positions: Layout;
}

/** The least zoom at which a step's name (0.86rem) is still 10 px on screen. */
const READABLE_ZOOM = 0.75;
const MAX_ZOOM = 1.5;
/** Room around the graph, px on screen; more below, where the zoom buttons and map are. */
const PAD = 28;
const PAD_BOTTOM = 56;
const MIN_HEIGHT = 240;
const MAX_HEIGHT = 640;

/**
 * The pane's height and the first view for a graph in a pane this wide: the whole
 * graph at up to 100 % when that is readable, else readable and from the graph's
 * start (left, where a run begins), centred on whichever axis fits.
 */
function firstView(b: Bounds, width: number, maxHeight: number): { height: number; view: Viewport; whole: boolean } {
  const roomX = Math.max(width - 2 * PAD, 1);
  const padY = PAD + PAD_BOTTOM;
  let zoom = Math.max(READABLE_ZOOM, Math.min(1, roomX / b.width));
  const tallest = Math.max(MIN_HEIGHT, maxHeight);
  if (b.height * zoom + padY > tallest) zoom = Math.max(READABLE_ZOOM, Math.min(zoom, (tallest - padY) / b.height));
  const height = Math.round(Math.min(tallest, Math.max(MIN_HEIGHT, b.height * zoom + padY)));
  const roomY = height - padY;
  const w = b.width * zoom;
  const h = b.height * zoom;
  const x = w <= roomX ? (width - w) / 2 - b.x * zoom : PAD - b.x * zoom;
  const y = h <= roomY ? PAD + (roomY - h) / 2 - b.y * zoom : PAD - b.y * zoom;
  return { height, view: { x, y, zoom }, whole: w <= roomX && h <= roomY };
}

function show(value: Json | undefined): string {
  if (value === undefined || value === null) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function ReviewDiff({ config }: { config: ReviewDiffConfig }) {
  return (
    <ReactFlowProvider>
      <ReviewDiffCanvas config={config} />
    </ReactFlowProvider>
  );
}

/** Both versions, their diff, and one layout of the steps of either. */
async function load({ slug, number, against }: ReviewDiffConfig): Promise<Loaded> {
  const version = (n: number) => ok(client.GET("/api/workflows/{slug}/versions/{number}/", { params: { path: { slug, number: n } } }));
  const [newer, older, diff] = await Promise.all([
    version(number),
    version(against),
    ok(client.GET("/api/workflows/{slug}/versions/{number}/diff/", { params: { path: { slug, number }, query: { against } } })),
  ]);
  const newSpec = asSpec(newer.spec);
  const oldSpec = asSpec(older.spec);
  const removed = new Set(diff.removed);
  const positions = await serverLayout({ steps: [...newSpec.steps, ...oldSpec.steps.filter((s) => removed.has(s.id))] });
  return { oldSpec, newSpec, diff, positions };
}

/** The boxes of both versions, marked, and their edges: added, removed or the same. */
function diffGraph(loaded: Loaded, picked: string | null): { nodes: StepFlowNode[]; edges: Edge[] } {
  const { oldSpec, newSpec, diff, positions } = loaded;
  const added = new Set(diff.added);
  const removed = new Set(diff.removed);
  const changed = new Set(diff.changed.map((c) => c.step));
  const newZones = zones(newSpec);
  const oldZones = zones(oldSpec);
  const make = (step: AnyStep, mark: DiffMark, zone: Zone | undefined): StepFlowNode => ({
    id: step.id,
    type: "step",
    position: positions[step.id] ?? { x: 0, y: 0 },
    ...STEP_BOX,
    selected: picked === step.id,
    data: { step, zone: zone ?? "compensable", uncovered: false, errors: [], warnings: [], sim: null, diff: mark, readOnly: true },
  });
  const nodes: StepFlowNode[] = [
    ...newSpec.steps.map((s) =>
      make(s, added.has(s.id) ? "added" : changed.has(s.id) ? "changed" : "same", newZones.get(s.id)),
    ),
    ...oldSpec.steps.filter((s) => removed.has(s.id)).map((s) => make(s, "removed", oldZones.get(s.id))),
  ];
  const pairs = (spec: Spec) => new Set(dependencies(spec).map((d) => edgeKey(d.source, d.target)));
  const oldEdges = pairs(oldSpec);
  const newEdges = pairs(newSpec);
  const edges: Edge[] = [...new Set([...newEdges, ...oldEdges])].map((key) => {
    const [source, target] = key.split("->");
    const kind = newEdges.has(key) ? (oldEdges.has(key) ? "same" : "added") : "removed";
    const colour = kind === "added" ? EDGE_COLOURS.good : kind === "removed" ? EDGE_COLOURS.bad : EDGE_COLOURS.plain;
    return { id: key, source, target, className: `edge-diff-${kind}`, markerEnd: arrow(colour) };
  });
  return { nodes, edges };
}

function ReviewDiffCanvas({ config }: { config: ReviewDiffConfig }) {
  const flow = useReactFlow();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string | null>(null);
  const pane = useRef<HTMLDivElement>(null);
  const detailBox = useRef<HTMLElement>(null);
  const [fit, setFit] = useState<{ height: number; whole: boolean } | null>(null);

  useEffect(() => {
    load(config).then(setLoaded, (err: unknown) => setError(messageOf(err)));
  }, [config]);

  const { nodes, edges } = useMemo(
    () => (loaded ? diffGraph(loaded, picked) : { nodes: [] as StepFlowNode[], edges: [] as Edge[] }),
    [loaded, picked],
  );

  // Sized and fitted once, when both versions are drawn; afterwards the view is the reviewer's.
  const graph = useMemo(() => boundsOf(nodes.map((n) => n.position)), [nodes]);
  useLayoutEffect(() => {
    if (!loaded || fit || !pane.current) return;
    const width = pane.current.getBoundingClientRect().width;
    if (!graph) {
      setFit({ height: MIN_HEIGHT, whole: true });
      return;
    }
    const first = firstView(graph, width, Math.min(MAX_HEIGHT, Math.round(window.innerHeight * 0.7)));
    setFit({ height: first.height, whole: first.whole });
    void flow.setViewport(first.view);
  }, [fit, flow, graph, loaded]);

  useEffect(() => {
    if (picked) detailBox.current?.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }, [picked]);

  const onNodeClick: NodeMouseHandler<StepFlowNode> = (_, node) => setPicked(node.id);

  if (error) return <p className="alert alert-error">The visual diff could not be drawn: {error}</p>;

  const detail = loaded && picked ? describe(loaded, picked) : null;
  return (
    <div className="review-diff" data-ready={loaded && fit ? "true" : "false"}>
      <div className="review-diff-canvas" ref={pane} style={{ height: fit?.height ?? MIN_HEIGHT }}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onNodeClick={onNodeClick}
          onPaneClick={() => setPicked(null)}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          minZoom={READABLE_ZOOM}
          maxZoom={MAX_ZOOM}
          // The page scrolls under the wheel; Ctrl+wheel or a pinch zooms, a drag pans.
          zoomOnScroll={false}
          preventScrolling={false}
          deleteKeyCode={null}
        >
          <Grid />
          <Controls
            orientation="horizontal"
            showInteractive={false}
            fitViewOptions={{ padding: 0.1, minZoom: READABLE_ZOOM, maxZoom: 1 }}
          />
          {fit && !fit.whole && graph && (
            // The whole graph, changes coloured, when the canvas shows only part of it.
            <MiniMap
              pannable
              zoomable
              style={{ width: 180, height: Math.round(Math.min(110, Math.max(36, (180 * graph.height) / graph.width))) }}
              nodeClassName={(n) => `minimap-diff-${String((n.data as { diff?: string }).diff ?? "same")}`}
            />
          )}
        </ReactFlow>
        {!loaded && <div className="canvas-empty"><p>Drawing both versions…</p></div>}
      </div>
      <aside className="review-diff-panel" aria-live="polite" ref={detailBox}>
        {detail ?? (
          <div className="panel-body">
            <h3>Changes v{config.against} → v{config.number}</h3>
            {loaded && (
              <ul className="diff-summary">
                <li><span className="key key-added">{loaded.diff.added.length} added</span></li>
                <li><span className="key key-removed">{loaded.diff.removed.length} removed</span></li>
                <li><span className="key key-changed">{loaded.diff.changed.length} changed</span></li>
              </ul>
            )}
            <p className="panel-help">Click a step to see what changed in it.</p>
          </div>
        )}
      </aside>
    </div>
  );
}

function describe(loaded: Loaded, id: string) {
  const { diff, oldSpec, newSpec } = loaded;
  const change = diff.changed.find((c) => c.step === id);
  const step = newSpec.steps.find((s) => s.id === id) ?? oldSpec.steps.find((s) => s.id === id);
  const title = (
    <h3>
      <code>{id}</code> {step?.name ? <span className="muted">{step.name}</span> : null}
    </h3>
  );
  if (change) {
    const rows = Object.entries(change.fields) as [string, FieldChange][];
    return (
      <div className="panel-body" data-detail="changed" data-step={id}>
        {title}
        <p className="panel-help">Changed: {rows.length} field{rows.length === 1 ? "" : "s"}.</p>
        <table className="field-changes">
          <thead>
            <tr><th>Field</th><th>Old</th><th>New</th></tr>
          </thead>
          <tbody>
            {rows.map(([field, values]) => (
              <tr key={field}>
                <td><code>{field}</code></td>
                <td className="diff-old"><code>{show(values.old)}</code></td>
                <td className="diff-new"><code>{show(values.new)}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  const kind = diff.added.includes(id) ? "added" : diff.removed.includes(id) ? "removed" : "same";
  const words = { added: "Added in this version.", removed: "Removed in this version.", same: "Unchanged." }[kind];
  return (
    <div className="panel-body" data-detail={kind} data-step={id}>
      {title}
      <p className="panel-help">{words}</p>
      {kind !== "same" && step && (
        <pre className="code-block small" tabIndex={0} role="region" aria-label={`${id} as JSON`}>
          {JSON.stringify(step, null, 2)}
        </pre>
      )}
    </div>
  );
}
