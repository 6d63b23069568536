// The side panel's two modes, and the simulation it shows on the canvas: one counts
// only while the spec and the sample input are the ones simulated.
import { useCallback, useState } from "react";
import type { Simulation, Spec } from "../../types";

export type Mode = "inspect" | "simulate";

export function useSimulation(spec: Spec, sample: string) {
  const [mode, setMode] = useState<Mode>("inspect");
  const [sim, setSim] = useState<{ spec: Spec; sample: string; result: Simulation } | null>(null);
  const shown = sim && sim.spec === spec && sim.sample === sample ? sim.result : null;
  const show = useCallback((result: Simulation | null) => setSim(result ? { spec, sample, result } : null), [spec, sample]);
  const toggle = useCallback(() => setMode((m) => (m === "simulate" ? "inspect" : "simulate")), []);
  const simulating = mode === "simulate";
  return { mode, setMode, toggle, simulating, shown, show, drawn: simulating ? shown : null };
}

export type SimulationState = ReturnType<typeof useSimulation>;
