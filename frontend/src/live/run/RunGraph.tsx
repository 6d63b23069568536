// The run's version drawn with React Flow, each step in the colour of its status
// now. Positions: the version's saved layout, else the server's (graphviz), else
// layers by depth while that comes.
import {
  Controls,
  Handle,
  Position,
  ReactFlow,
  ReactFlowProvider,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import { memo, useEffect, useMemo, useState } from "react";
import { latency } from "../../common/time";
import { IN_FLIGHT } from "../../generated/vocabulary";
import { serverLayout } from "../../graph/layout";
import { dependencies, edgeKey, layeredLayout, missingPositions } from "../../graph/model";
import { arrow, Grid, STEP_BOX } from "../../graph/nodes";
import { typeBadge } from "../../graph/spec";
import type { Layout, RunStatus, Spec } from "../../types";
import type { StepRow } from "../types";
import { MapBar, progressWords } from "./Iterations";
import { stepWord } from "./model";

type RunNodeData = {
  id: string;
  name: string;
  type: string;
  pivot: boolean;
  row: StepRow | undefined;
  /** Its status in words, as the run stands. */
  word: string;
  selected: boolean;
};
type RunFlowNode = Node<RunNodeData, "run-step">;

const RunStepNode = memo(function RunStepNode({ data }: NodeProps<RunFlowNode>) {
  const status = data.row?.status ?? "pending";
  const attempts = data.row?.attempts ?? 0;
  return (
    <div
      className={`run-node st-${status}${data.selected ? " is-selected" : ""}`}
      data-status={status}
      data-step={data.id}
      title={data.row?.iterations ? progressWords(data.row.iterations) : data.row?.error || undefined}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="run-node-head">
        <span className="run-node-type">{typeBadge(data.type)}</span>
        {data.pivot && <span className="run-node-pivot">pivot</span>}
        <span className="run-node-status">{data.word}</span>
      </div>
      <div className="run-node-name">{data.name || data.id}</div>
      {data.row?.iterations ? (
        <div className="run-node-meta" data-map-progress={data.id}>
          <MapBar progress={data.row.iterations} />
          <span>
            {(data.row.iterations.counts.succeeded ?? 0) + (data.row.iterations.counts.skipped ?? 0)}/
            {data.row.iterations.total}
          </span>
        </div>
      ) : (
        <div className="run-node-meta">
          <code>{data.id}</code>
          <span>
            {attempts > 1 ? `${attempts} attempts · ` : ""}
            {latency(data.row?.latency_ms)}
          </span>
        </div>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const nodeTypes = { "run-step": RunStepNode };

interface Props {
  spec: Spec;
  layout: Layout;
  steps: StepRow[];
  run: RunStatus;
  selected: string | null;
  onSelect: (step: string | null) => void;
}

export function RunGraph(props: Props) {
  return (
    <ReactFlowProvider>
      <Graph {...props} />
    </ReactFlowProvider>
  );
}

function Graph({ spec, layout, steps, run, selected, onSelect }: Props) {
  const complete = !missingPositions({ spec, layout });
  const [positions, setPositions] = useState<Layout>(() => (complete ? layout : { ...layeredLayout(spec), ...layout }));

  useEffect(() => {
    if (complete) return;
    serverLayout(spec)
      .then(setPositions)
      .catch(() => undefined); // the layers by depth stay
  }, [spec, complete]);

  const rows = useMemo(() => new Map(steps.map((s) => [s.id, s])), [steps]);

  const nodes = useMemo<RunFlowNode[]>(
    () =>
      spec.steps.map((step) => ({
        id: step.id,
        type: "run-step",
        position: positions[step.id] ?? { x: 0, y: 0 },
        ...STEP_BOX,
        data: {
          id: step.id,
          name: step.name ?? "",
          type: step.type,
          pivot: Boolean(step.pivot),
          row: rows.get(step.id),
          word: stepWord(rows.get(step.id) ?? { status: "pending", skip: null }, run),
          selected: selected === step.id,
        },
      })),
    [spec, positions, rows, run, selected],
  );

  const edges = useMemo<Edge[]>(
    () =>
      dependencies(spec).map(({ source, target }) => {
        const from = rows.get(source)?.status;
        const to = rows.get(target)?.status;
        return {
          id: edgeKey(source, target),
          source,
          target,
          // Into a step at work now.
          animated: to !== undefined && IN_FLIGHT.has(to),
          className: from === "succeeded" && to !== "pending" ? "edge-done" : "edge-todo",
          markerEnd: arrow(),
        };
      }),
    [spec, rows],
  );

  return (
    <div className="run-graph">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodeClick={(_, node) => onSelect(node.id === selected ? null : node.id)}
        onPaneClick={() => onSelect(null)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        fitView
        fitViewOptions={{ padding: 0.2, maxZoom: 1.1 }}
        minZoom={0.1}
        deleteKeyCode={null}
      >
        <Grid />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
