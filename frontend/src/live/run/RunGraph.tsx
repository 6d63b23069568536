// The run's version drawn with React Flow, each step in the colour of its status
// now. Positions: the version's saved layout, else the server's (graphviz), else
// layers by depth while that comes.
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  ReactFlowProvider,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import { memo, useEffect, useMemo, useState } from "react";
import { request } from "../../api";
import { STEP_HANDLES } from "../../designer/elements";
import { layeredLayout, NODE_HEIGHT, NODE_WIDTH } from "../../designer/model";
import type { Layout, LayoutResult, Spec } from "../../types";
import { latency, statusWord } from "../common";
import type { StepRow } from "../types";

type RunNodeData = {
  id: string;
  name: string;
  type: string;
  pivot: boolean;
  row: StepRow | undefined;
  selected: boolean;
};
type RunFlowNode = Node<RunNodeData, "run-step">;

const TYPE_LABELS: Record<string, string> = {
  http: "HTTP",
  task: "TASK",
  approval: "APPROVAL",
  delay: "DELAY",
  callback: "CALLBACK",
};

const RunStepNode = memo(function RunStepNode({ data }: NodeProps<RunFlowNode>) {
  const status = data.row?.status ?? "pending";
  const attempts = data.row?.attempts ?? 0;
  return (
    <div
      className={`run-node st-${status}${data.selected ? " is-selected" : ""}`}
      data-status={status}
      data-step={data.id}
      title={data.row?.error || undefined}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="run-node-head">
        <span className="run-node-type">{TYPE_LABELS[data.type] ?? data.type}</span>
        {data.pivot && <span className="run-node-pivot">pivot</span>}
        <span className="run-node-status">{statusWord(status)}</span>
      </div>
      <div className="run-node-name">{data.name || data.id}</div>
      <div className="run-node-meta">
        <code>{data.id}</code>
        <span>
          {attempts > 1 ? `${attempts} attempts · ` : ""}
          {latency(data.row?.latency_ms)}
        </span>
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const nodeTypes = { "run-step": RunStepNode };

interface Props {
  api: string;
  spec: Spec;
  layout: Layout;
  steps: StepRow[];
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

function Graph({ api, spec, layout, steps, selected, onSelect }: Props) {
  const complete = spec.steps.every((s) => layout[s.id]);
  const [positions, setPositions] = useState<Layout>(() => (complete ? layout : { ...layeredLayout(spec), ...layout }));

  useEffect(() => {
    if (complete) return;
    const shape = { steps: spec.steps.map((s) => ({ id: s.id, after: s.after ?? [] })) };
    request<LayoutResult>("POST", `${api}layout/`, { spec: shape })
      .then((laid) => setPositions(laid.positions))
      .catch(() => undefined); // the layers by depth stay
  }, [api, spec, complete]);

  const rows = useMemo(() => new Map(steps.map((s) => [s.id, s])), [steps]);

  const nodes = useMemo<RunFlowNode[]>(
    () =>
      spec.steps.map((step) => ({
        id: step.id,
        type: "run-step",
        position: positions[step.id] ?? { x: 0, y: 0 },
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        handles: STEP_HANDLES,
        measured: { width: NODE_WIDTH, height: NODE_HEIGHT },
        data: {
          id: step.id,
          name: step.name ?? "",
          type: step.type,
          pivot: Boolean(step.pivot),
          row: rows.get(step.id),
          selected: selected === step.id,
        },
      })),
    [spec, positions, rows, selected],
  );

  const edges = useMemo<Edge[]>(
    () =>
      spec.steps.flatMap((step) =>
        (step.after ?? []).map((before) => {
          const from = rows.get(before)?.status;
          const to = rows.get(step.id)?.status;
          const active = to === "running" || to === "compensating";
          return {
            id: `${before}->${step.id}`,
            source: before,
            target: step.id,
            animated: active,
            className: from === "succeeded" && to !== "pending" ? "edge-done" : "edge-todo",
            markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: "#94a3b8" },
          };
        }),
      ),
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
        <Background gap={20} size={1} color="#d9dde4" />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
