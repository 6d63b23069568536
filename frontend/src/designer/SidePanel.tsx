// The side panel: a tab for what is selected (a step's form, several steps, or the
// workflow's own fields and every problem) and one for simulation.
import { useReactFlow } from "@xyflow/react";
import { useCallback } from "react";
import { indexOfNode, nodeIds, type Zone } from "../graph/model";
import { NODE_HEIGHT, NODE_WIDTH } from "../graph/nodes";
import type { Catalog } from "./hooks/useCatalog";
import type { DocumentState } from "./hooks/useDocument";
import type { SampleInput } from "./hooks/useSampleInput";
import type { SelectionState } from "./hooks/useSelection";
import type { SimulationState } from "./hooks/useSimulation";
import type { ValidationState } from "./hooks/useValidation";
import { idProblem, removeElements, renameStep, replaceStep, setOptional } from "./doc";
import { tagged, type StepIssues } from "./issues";
import { SimulatePanel } from "./SimulatePanel";
import { StepPanel } from "./StepPanel";
import { WorkflowPanel } from "./WorkflowPanel";

interface Props {
  edited: DocumentState;
  selection: SelectionState;
  simulation: SimulationState;
  validation: ValidationState;
  zoneMap: Map<string, Zone>;
  issueMap: Map<string, StepIssues>;
  catalog: Catalog;
  sample: SampleInput;
  /** The workflow being edited. */
  workflow: string;
  readOnly: boolean;
  copy: () => void;
  deleteSelection: () => void;
  /** Shows these steps in the side panel. */
  inspect: (nodes: string[]) => void;
}

export function SidePanel(props: Props) {
  const { selection, simulation } = props;
  const selectedIds = [...selection.selection];
  const single = selectedIds.length === 1 ? selectedIds[0] : null;
  return (
    <aside className="designer-panel" aria-label="Details">
      <div className="panel-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={simulation.mode === "inspect"} onClick={() => simulation.setMode("inspect")}>
          {single ? "Step" : selectedIds.length > 1 ? "Selection" : "Workflow"}
        </button>
        <button type="button" role="tab" aria-selected={simulation.mode === "simulate"} onClick={() => simulation.setMode("simulate")}>
          Simulate
        </button>
      </div>
      <PanelBody {...props} selectedIds={selectedIds} single={single} />
    </aside>
  );
}

function PanelBody(props: Props & { selectedIds: string[]; single: string | null }) {
  const { edited, selection, simulation, validation, readOnly, selectedIds, single } = props;
  const { doc, docRef, commit } = edited;
  const pick = usePick(props.inspect);
  const singleIndex = single === null ? -1 : indexOfNode(doc.spec, single);

  if (simulation.mode === "simulate") {
    return <SimulatePanel spec={doc.spec} valid={validation.valid} current={simulation.shown} onShow={simulation.show} sample={props.sample} readOnly={readOnly} />;
  }
  if (single !== null && singleIndex >= 0) {
    const step = doc.spec.steps[singleIndex];
    return (
      <StepPanel
        key={single}
        step={step}
        steps={doc.spec.steps}
        zone={props.zoneMap.get(step.id) ?? "compensable"}
        issues={tagged(props.issueMap.get(single))}
        readOnly={readOnly}
        activities={props.catalog.activities}
        groups={props.catalog.groups}
        workflows={props.catalog.workflows}
        workflow={props.workflow}
        sample={props.sample}
        onEditSample={() => simulation.setMode("simulate")}
        // No key: each toggle is an undo step of its own.
        onOptional={(on) => commit(setOptional(docRef.current, singleIndex, on))}
        onChange={(next, key) => commit(replaceStep(docRef.current, singleIndex, next), `${single}:${key}`)}
        onRename={(id) => {
          const problem = idProblem(docRef.current.spec, singleIndex, id);
          if (problem) return problem;
          commit(renameStep(docRef.current, singleIndex, id));
          selection.setSelection(new Set([id]));
          return null;
        }}
        onDelete={() => {
          commit(removeElements(docRef.current, [single], []));
          selection.setSelection(new Set());
        }}
      />
    );
  }
  if (selectedIds.length > 1) {
    return <SelectionPanel count={selectedIds.length} readOnly={readOnly} copy={props.copy} deleteSelection={props.deleteSelection} />;
  }
  return (
    <WorkflowPanel
      spec={doc.spec}
      note={edited.note}
      issues={tagged(props.issueMap.get(""))}
      allIssues={tagged(validation.result)}
      readOnly={readOnly}
      onChange={(spec, key) => commit({ ...docRef.current, spec }, `spec:${key}`)}
      onNote={edited.setNote}
      onPick={(stepId) => pick(docRef.current, stepId)}
    />
  );
}

/** Selects a step the problems list names (by id, or by its place) and brings it into view. */
function usePick(inspect: (nodes: string[]) => void) {
  const flow = useReactFlow();
  return useCallback(
    (doc: DocumentState["doc"], stepId: string) => {
      const ids = nodeIds(doc.spec);
      const i = doc.spec.steps.findIndex((s) => s.id === stepId);
      const nodeId = /^steps\[\d+\]$/.test(stepId) ? stepId : i >= 0 ? ids[i] : null;
      if (!nodeId) return;
      inspect([nodeId]);
      const at = doc.layout[doc.spec.steps[ids.indexOf(nodeId)]?.id ?? ""];
      if (at) void flow.setCenter(at.x + NODE_WIDTH / 2, at.y + NODE_HEIGHT / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 250 });
    },
    [flow, inspect],
  );
}

function SelectionPanel({ count, readOnly, copy, deleteSelection }: { count: number; readOnly: boolean; copy: () => void; deleteSelection: () => void }) {
  return (
    <div className="panel-body" data-panel="many">
      <div className="panel-title">
        <h2>{count} steps selected</h2>
      </div>
      <div className="panel-actions">
        <button type="button" className="btn btn-small" onClick={copy}>Copy</button>
        {!readOnly && <button type="button" className="btn btn-small btn-danger" onClick={deleteSelection}>Delete</button>}
      </div>
      <p className="panel-help">Ctrl+C copies them, Ctrl+V pastes them with new ids, Delete removes them.</p>
    </div>
  );
}
