// The designer: palette, canvas and side panel over one document (spec + layout),
// with undo, on-the-fly validation by the server, auto-layout, simulation and saving.
// Each concern is a hook of hooks/; this is where they meet.
import { ControlButton, Controls, MiniMap, ReactFlow, ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useMemo } from "react";
import { zones } from "../graph/model";
import { Grid } from "../graph/nodes";
import { nodeTypes, WorkflowNames } from "../graph/StepNode";
import type { DesignerConfig } from "./config";
import { useCanvasElements } from "./elements";
import { useCanvasEditing } from "./hooks/useCanvasEditing";
import { useCatalog } from "./hooks/useCatalog";
import { useClipboard } from "./hooks/useClipboard";
import { useDocument } from "./hooks/useDocument";
import { useImportExport } from "./hooks/useImportExport";
import { MIN_ZOOM, useLayout } from "./hooks/useLayout";
import { useNewSteps } from "./hooks/useNewSteps";
import { useSampleInput } from "./hooks/useSampleInput";
import { useSave } from "./hooks/useSave";
import { useSelection } from "./hooks/useSelection";
import { useShortcuts } from "./hooks/useShortcuts";
import { useSimulation } from "./hooks/useSimulation";
import { useToast } from "./hooks/useToast";
import { useUnsavedWork } from "./hooks/useUnsavedWork";
import { useValidation } from "./hooks/useValidation";
import { useVersion } from "./hooks/useVersion";
import { issuesByNode } from "./issues";
import { Palette } from "./Palette";
import { RestoreBanner } from "./RestoreBanner";
import { SidePanel } from "./SidePanel";
import { ToastView } from "./Toast";
import { Toolbar } from "./Toolbar";
import { restoredDoc } from "./unsaved";

/** React Flow's own fit-view icon, for the designer's fit button. */
const FIT_ICON =
  "M3.692 4.63c0-.53.4-.938.939-.938h5.215V0H4.708C2.13 0 0 2.054 0 4.63v5.216h3.692V4.631zM27.354 0h-5.2v3.692h5.17c.53 0 .984.4.984.939v5.215H32V4.631A4.624 4.624 0 0027.354 0zm.954 24.83c0 .532-.4.94-.939.94h-5.215v3.768h5.215c2.577 0 4.631-2.13 4.631-4.707v-5.139h-3.692v5.139zm-23.677.94c-.531 0-.939-.4-.939-.94v-5.138H0v5.139c0 2.577 2.13 4.707 4.708 4.707h5.138V25.77H4.631z";

export function Designer({ config }: { config: DesignerConfig }) {
  return (
    <ReactFlowProvider>
      <DesignerCanvas config={config} />
    </ReactFlowProvider>
  );
}

function DesignerCanvas({ config }: { config: DesignerConfig }) {
  const { toast, notify, dismiss } = useToast();
  const edited = useDocument(config);
  const { doc, dispatch } = edited;
  const versions = useVersion(config, doc, edited.note);
  const { version, readOnly, dirty } = versions;
  const catalog = useCatalog();
  const validation = useValidation(doc.spec, config.workflow.slug);
  const unsaved = useUnsavedWork({ config, version, doc, note: edited.note, dirty });
  const selection = useSelection();
  const sample = useSampleInput(config, doc.spec);
  const simulation = useSimulation(doc.spec, sample.text);
  const layout = useLayout({ edited, readOnly, rebase: versions.rebase, notify });
  const saving = useSave({ config, edited, versions, unsaved, valid: validation.valid, blocked: layout.laying, notify });

  useEffect(() => {
    // For bench/designer.py: the first commit.
    performance.mark("designer:mounted");
  }, []);

  const { select, setSelection } = selection;
  const { setMode } = simulation;
  /** These steps selected and shown in the side panel. */
  const inspect = useCallback(
    (nodes: string[]) => {
      select(nodes);
      setMode("inspect");
    },
    [select, setMode],
  );

  const zoneMap = useMemo(() => zones(doc.spec), [doc.spec]);
  const workflowNames = useMemo(() => new Map((catalog.workflows ?? []).map((w) => [w.slug, w.name])), [catalog.workflows]);
  const issueMap = useMemo(() => issuesByNode(doc.spec, validation.result), [doc.spec, validation.result]);
  const { nodes, edges } = useCanvasElements({
    doc,
    zoneMap,
    issueMap,
    result: validation.result,
    sim: simulation.drawn,
    selection: selection.selection,
    edgeSelection: selection.edgeSelection,
    readOnly,
  });
  const editing = useCanvasEditing({ edited, selection, readOnly, edges });
  const adding = useNewSteps({ edited, catalog, readOnly, pane: layout.pane, inspect, workflow: config.workflow.slug });
  const clipboard = useClipboard({ edited, selection: selection.selection, select, readOnly, notify });
  const files = useImportExport({ config, version, edited, select, notify, fitSoon: layout.fitSoon });

  const { offer, dismiss: dismissOffer } = unsaved;
  const { commit, setNote } = edited;
  const { fitSoon } = layout;
  const restore = useCallback(() => {
    if (!offer) return;
    commit(restoredDoc(offer));
    setNote(offer.note);
    inspect([]);
    dismissOffer();
    notify({ kind: "info", text: "Restored the unsaved changes. Undo (Ctrl+Z) takes them back out." });
    fitSoon();
  }, [commit, dismissOffer, fitSoon, inspect, notify, offer, setNote]);

  const undo = useCallback(() => dispatch({ type: "undo" }), [dispatch]);
  const redo = useCallback(() => dispatch({ type: "redo" }), [dispatch]);
  const { save } = saving;
  const saveNow = useCallback(() => void save(), [save]);
  useShortcuts({
    readOnly,
    canSave: saving.canSave,
    checked: validation.checked,
    errorCount: validation.errorCount,
    kept: unsaved.kept,
    save: saveNow,
    undo,
    redo,
    copy: clipboard.copy,
    paste: clipboard.paste,
    deleteSelection: editing.deleteSelection,
    fit: layout.fit,
    notify,
  });

  return (
    <div
      className={`designer${readOnly ? " is-readonly" : ""}${simulation.simulating ? " is-simulating" : ""}`}
      data-validation={validation.state}
      data-dirty={dirty ? "true" : "false"}
      data-layouts={layout.layoutCount}
      data-version={version?.number ?? ""}
      data-status={version?.status ?? "new"}
    >
      <Toolbar
        config={config}
        version={version}
        readOnly={readOnly}
        dirty={dirty}
        neverSaved={versions.neverSaved}
        busy={saving.busy ?? (layout.laying ? "layout" : null)}
        validationState={validation.state}
        errors={validation.errorCount}
        warnings={validation.warningCount}
        canUndo={edited.canUndo && !readOnly}
        canRedo={edited.canRedo && !readOnly}
        canSave={saving.canSave}
        canSubmit={saving.canSubmit}
        canDelete={editing.canDelete}
        simulating={simulation.simulating}
        kept={unsaved.kept}
        onUndo={undo}
        onRedo={redo}
        onDelete={editing.deleteSelection}
        onLayout={() => void layout.runLayout(false)}
        onFit={() => layout.fit()}
        onSave={saveNow}
        onSubmit={() => void saving.submit()}
        onSimulate={simulation.toggle}
        onShowProblems={() => {
          setSelection(new Set());
          setMode("inspect");
        }}
        onImport={(text) => void files.importText(text)}
        onExport={(format) => void files.exportAs(format)}
      >
        {offer && (
          <RestoreBanner
            work={offer}
            version={version}
            readOnly={readOnly}
            onRestore={restore}
            onDiscard={dismissOffer}
            onExport={() => files.exportUnsaved(offer)}
          />
        )}
      </Toolbar>
      <div className="designer-body">
        {!readOnly && <Palette onAdd={adding.addAtCentre} />}
        <div className="designer-canvas" ref={layout.pane} onDragOver={adding.onDragOver} onDrop={adding.onDrop}>
          <WorkflowNames.Provider value={workflowNames}>
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={editing.onNodesChange}
              onEdgesChange={editing.onEdgesChange}
              onConnect={editing.onConnect}
              onNodeDragStart={editing.onNodeDragStart}
              onNodeDragStop={editing.onNodeDragStop}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              elementsSelectable
              deleteKeyCode={null}
              selectionKeyCode="Shift"
              multiSelectionKeyCode={["Meta", "Control"]}
              defaultViewport={layout.firstView}
              minZoom={MIN_ZOOM}
              maxZoom={2}
              defaultEdgeOptions={{ type: "default" }}
            >
              <Grid />
              <MiniMap pannable zoomable nodeClassName={(n) => `minimap-node ${String((n.data as { zone?: string }).zone ?? "")}`} />
              <Controls showInteractive={false} showFitView={false}>
                {/* The designer's own fit (as F and the toolbar's Fit): never below a readable zoom. */}
                <ControlButton className="react-flow__controls-fitview" onClick={() => layout.fit()} title="Fit view (F)" aria-label="Fit view">
                  <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 30" aria-hidden="true">
                    <path d={FIT_ICON} />
                  </svg>
                </ControlButton>
              </Controls>
            </ReactFlow>
          </WorkflowNames.Provider>
          <ToastView toast={toast} onDismiss={dismiss} />
          {doc.spec.steps.length === 0 && !readOnly && (
            <div className="canvas-empty">
              <p><strong>An empty canvas.</strong></p>
              <p>Drag steps from the palette, then connect a step's right handle to the next step's left handle.</p>
            </div>
          )}
        </div>
        <SidePanel
          edited={edited}
          selection={selection}
          simulation={simulation}
          validation={validation}
          zoneMap={zoneMap}
          issueMap={issueMap}
          catalog={catalog}
          sample={sample}
          workflow={config.workflow.slug}
          readOnly={readOnly}
          copy={clipboard.copy}
          deleteSelection={editing.deleteSelection}
          inspect={inspect}
        />
      </div>
    </div>
  );
}
