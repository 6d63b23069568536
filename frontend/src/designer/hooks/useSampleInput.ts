// The designer's sample input: what the condition previews and the simulation run
// against. Kept in this browser per user and workflow (unsaved.ts), as JSON text, so
// half-typed JSON survives as typed.
import { useCallback, useMemo, useState } from "react";
import type { Json, JsonObject, Spec } from "../../types";
import { celInput } from "../cel";
import type { DesignerConfig } from "../config";
import { readSample, sampleKey, writeSample } from "../unsaved";

/** A first sample shaped like the input schema: each declared field with a value of its type. */
export function sampleFromSchema(spec: Spec): string {
  const properties = (spec.input_schema?.properties ?? {}) as JsonObject;
  const sample: JsonObject = {};
  for (const [name, raw] of Object.entries(properties)) {
    const field = (raw ?? {}) as JsonObject;
    const type = Array.isArray(field.type) ? field.type[0] : field.type;
    const example = Array.isArray(field.examples) ? field.examples[0] : field.default;
    const byType: Record<string, Json> = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };
    sample[name] = example !== undefined ? example : (byType[String(type)] ?? null);
  }
  return JSON.stringify(sample, null, 2);
}

export interface SampleInput {
  text: string;
  setText: (text: string) => void;
  /** The sample as JSON (what the server is sent), or undefined while it does not parse. */
  json: Json | undefined;
  /** The sample as CEL reads it (whole numbers are ints). */
  cel: unknown;
  /** Why the text is not JSON, or null. */
  problem: string | null;
}

export function useSampleInput(config: DesignerConfig, spec: Spec): SampleInput {
  const key = sampleKey(config.user, config.workflow.slug);
  const [text, setTextState] = useState<string>(() => readSample(key) ?? sampleFromSchema(spec));
  const setText = useCallback(
    (next: string) => {
      setTextState(next);
      writeSample(key, next);
    },
    [key],
  );
  const parsed = useMemo(() => {
    try {
      return { json: (text.trim() ? JSON.parse(text) : {}) as Json, cel: celInput(text), problem: null };
    } catch (err) {
      return { json: undefined, cel: undefined, problem: err instanceof Error ? err.message : "not JSON" };
    }
  }, [text]);
  return { text, setText, ...parsed };
}
