// The palette of step types: drag one onto the canvas, or click it to add it. The
// types, their order, labels and hints are the kernel's (generated/vocabulary.ts).
import type { DragEvent } from "react";
import { typeBadge, typeLabel, typeSummary, typeTitle } from "../graph/spec";
import { STEP_TYPES, type StepType } from "../types";

export const PALETTE_MIME = "application/x-sagaboard-step";

/** The palette's own short badges: its column is narrower than a box's. A kind the kernel
 * lists before it has one here shows its box's badge. */
const BADGES: Partial<Record<StepType, string>> = {
  http: "HTTP",
  task: "TASK",
  approval: "APPR",
  delay: "WAIT",
  callback: "CB",
  map: "MAP",
};

export function Palette({ onAdd }: { onAdd: (type: StepType) => void }) {
  const start = (event: DragEvent, type: StepType) => {
    event.dataTransfer.setData(PALETTE_MIME, type);
    event.dataTransfer.effectAllowed = "copy";
  };
  return (
    <aside className="designer-palette" aria-label="Step types">
      <h2>Steps</h2>
      <ul>
        {STEP_TYPES.map((type) => (
          <li key={type}>
            <button
              type="button"
              className={`palette-item type-${type}`}
              draggable
              data-type={type}
              onDragStart={(e) => start(e, type)}
              onClick={() => onAdd(type)}
              title={`Drag onto the canvas, or click to add a ${typeLabel(type).toLowerCase()} step`}
            >
              <span className={`step-badge badge-type-${type}`}>{BADGES[type] ?? typeBadge(type)}</span>
              <span className="palette-text">
                <span className="palette-label">{typeTitle(type)}</span>
                <span className="palette-hint">{typeSummary(type)}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
      <p className="palette-foot">Drag a step onto the canvas, or click it. Connect the right handle of one step to the left handle of the next, or pick the step it runs after in its panel.</p>
    </aside>
  );
}
