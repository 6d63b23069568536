// The palette of step types: drag one onto the canvas, or click it to add it.
import type { DragEvent } from "react";
import { STEP_TYPES, type StepType } from "../types";
import { typeLabel } from "./model";

export const PALETTE_MIME = "application/x-sagaboard-step";

const HINTS: Record<StepType, string> = {
  http: "Call a participant service",
  task: "Run a registered activity",
  approval: "Wait for a person to decide",
  delay: "Wait a fixed time, durably",
  callback: "Wait for a participant's answer",
};

const BADGES: Record<StepType, string> = {
  http: "HTTP",
  task: "TASK",
  approval: "APPR",
  delay: "WAIT",
  callback: "CB",
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
              <span className={`step-badge badge-type-${type}`}>{BADGES[type]}</span>
              <span className="palette-text">
                <span className="palette-label">{typeLabel(type)}</span>
                <span className="palette-hint">{HINTS[type]}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
      <p className="palette-foot">Drag a step onto the canvas. Connect the right handle of one step to the left handle of the next: it then runs after it.</p>
    </aside>
  );
}
