// The server's layout of a graph (graphviz, POST /api/layout/), for every canvas.
import { client, ok } from "../common/client";
import type { Layout } from "../types";
import { asLayout } from "./spec";

/** Where the server would put each step, by step id. Only the edges are sent. */
export async function serverLayout(spec: { steps: readonly { id: string; after?: string[] }[] }): Promise<Layout> {
  const shape = { steps: spec.steps.map((s) => ({ id: String(s.id), after: s.after ?? [] })) };
  const laid = await ok(client.POST("/api/layout/", { body: { spec: shape } }));
  return asLayout(laid.positions);
}
