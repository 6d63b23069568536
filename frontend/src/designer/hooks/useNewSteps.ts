// New steps from the palette: dropped where the pointer lets go, or, clicked, put at
// the centre of the canvas (a little aside from the last one); then shown in the panel.
import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useRef, type DragEvent, type RefObject } from "react";
import { NODE_HEIGHT, NODE_WIDTH } from "../../graph/nodes";
import type { Position, StepType } from "../../types";
import { childWorkflows, newStep } from "../doc";
import { PALETTE_MIME } from "../Palette";
import type { Catalog } from "./useCatalog";
import type { DocumentState } from "./useDocument";

interface Input {
  edited: DocumentState;
  catalog: Catalog;
  readOnly: boolean;
  /** The canvas's pane, whose centre a clicked palette item goes to. */
  pane: RefObject<HTMLDivElement | null>;
  /** Shows these steps in the side panel. */
  inspect: (nodes: string[]) => void;
  /** The workflow being edited: a new child saga runs another one. */
  workflow: string;
}

export function useNewSteps({ edited, catalog, readOnly, pane, inspect, workflow }: Input) {
  const flow = useReactFlow();
  const { docRef, commit } = edited;
  const { activities, groups, workflows } = catalog;
  /** Child sagas added before the workflows were read: they get one once they are. */
  const unfilled = useRef<string[]>([]);

  const addStep = useCallback(
    (type: StepType, at: Position) => {
      if (readOnly) return;
      const current = docRef.current;
      const step = newStep(type, current.spec.steps.map((s) => s.id), activities, groups, workflows, workflow);
      if (type === "subsaga" && workflows === null) unfilled.current.push(step.id);
      commit(
        {
          spec: { ...current.spec, steps: [...current.spec.steps, step] },
          layout: { ...current.layout, [step.id]: { x: Math.round(at.x), y: Math.round(at.y) } },
        },
        `add:${step.id}`,
      );
      inspect([step.id]);
    },
    [activities, commit, docRef, groups, inspect, readOnly, workflow, workflows],
  );

  useEffect(() => {
    if (workflows === null || unfilled.current.length === 0) return;
    const ids = new Set(unfilled.current);
    unfilled.current = [];
    const slug = childWorkflows(workflows, workflow)[0]?.slug;
    if (!slug) return;
    const current = docRef.current;
    const steps = current.spec.steps.map((s) =>
      ids.has(s.id) && s.type === "subsaga" && s.action?.workflow === "" ? { ...s, action: { ...s.action, workflow: slug } } : s,
    );
    // The same key as the add: one undo step with it, unless something came between.
    const [first] = steps.filter((s, i) => s !== current.spec.steps[i]);
    if (first) commit({ ...current, spec: { ...current.spec, steps } }, `add:${first.id}`);
  }, [commit, docRef, workflow, workflows]);

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
      const box = pane.current?.getBoundingClientRect();
      const centre = box
        ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
        : { x: 0, y: 0 };
      const jitter = (docRef.current.spec.steps.length % 5) * 24;
      addStep(type, { x: centre.x - NODE_WIDTH / 2 + jitter, y: centre.y - NODE_HEIGHT / 2 + jitter });
    },
    [addStep, docRef, flow, pane],
  );

  return { onDragOver, onDrop, addAtCentre };
}
