// The side panel's two modes, and the simulation it shows on the canvas: one counts
// only while the spec is the one simulated.
import { useCallback, useState } from "react";
import type { Simulation, Spec } from "../../types";

export type Mode = "inspect" | "simulate";

export function useSimulation(spec: Spec) {
  const [mode, setMode] = useState<Mode>("inspect");
  const [sim, setSim] = useState<{ spec: Spec; result: Simulation } | null>(null);
  const shown = sim && sim.spec === spec ? sim.result : null;
  const show = useCallback((result: Simulation | null) => setSim(result ? { spec, result } : null), [spec]);
  const toggle = useCallback(() => setMode((m) => (m === "simulate" ? "inspect" : "simulate")), []);
  const simulating = mode === "simulate";
  return { mode, setMode, toggle, simulating, shown, show, drawn: simulating ? shown : null };
}

export type SimulationState = ReturnType<typeof useSimulation>;
