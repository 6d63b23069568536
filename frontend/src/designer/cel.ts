// CEL (the Common Expression Language) in the browser: a step's condition and a map's
// items, checked as the author types and evaluated against the sample input. The
// server's validator stays the judge; this only says sooner what it will say.
import { Environment } from "@marcbachmann/cel-js";

/** Where an expression is wrong, in words for the author: a syntax error (the server
 * refuses it too), or a doubt of the type checker (the server only parses; a run may
 * fail on it, or the browser may not know a function the server has). */
export interface CelProblem {
  severity: "error" | "doubt";
  message: string;
  line: number;
  column: number;
}

/** What an expression gives against the sample input. */
export type CelPreview =
  | { kind: "value"; value: unknown }
  | { kind: "error"; message: string }
  /** It reads steps' output, which only a run has. */
  | { kind: "unknown"; reads: string[] };

// The names an expression outside a map may start from; the validator names the others.
const env = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable("input", "dyn")
  .registerVariable("steps", "map");

function position(text: string, at: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, at));
  const lines = before.split("\n");
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

function firstLine(message: string): string {
  return message.split("\n")[0].trim();
}

/** Why ``text`` is not a CEL expression the designer can evaluate, or null. */
export function celProblem(text: string): CelProblem | null {
  if (!text.trim()) return { severity: "error", message: "Empty: write an expression.", line: 1, column: 1 };
  let checked: ReturnType<typeof env.check>;
  try {
    env.parse(text);
    checked = env.check(text);
  } catch (err) {
    const error = err as Error & { node?: { pos?: number } };
    return { severity: "error", message: `Syntax error: ${firstLine(error.message)}`, ...position(text, error.node?.pos ?? 0) };
  }
  if (checked.valid) return null;
  const error = checked.error as (Error & { node?: { pos?: number } }) | undefined;
  const at = position(text, error?.node?.pos ?? 0);
  if (error?.name === "ParseError") return { severity: "error", message: `Syntax error: ${firstLine(error.message)}`, ...at };
  return { severity: "doubt", message: `May fail in a run: ${firstLine(error?.message ?? "does not type-check")}`, ...at };
}

export function problemText(problem: CelProblem): string {
  return `${problem.message} (line ${problem.line}, column ${problem.column})`;
}

// --- the sample input -------------------------------------------------------------------

/**
 * The sample input as CEL reads it: JSON's whole numbers are CEL ints (as the server's
 * JSON gives Python ints), so ``input.qty + 1`` means what it means in a run.
 */
export function celInput(text: string): unknown {
  if (!text.trim()) return {};
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value !== "number") return value;
    const source = context?.source;
    const whole = source !== undefined ? /^-?\d+$/.test(source) : Number.isInteger(value);
    if (!whole) return value;
    return source !== undefined ? BigInt(source) : BigInt(value);
  });
}

const STRING = /r?('''[\s\S]*?'''|"""[\s\S]*?"""|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/g;
const STEP_READ = /(?<![\w.])steps\s*\.\s*([A-Za-z_][\w-]*)/g;

/** The steps whose output an expression reads (``steps.<id>``), as the validator finds them. */
export function stepsRead(text: string): string[] {
  const bare = text.replace(STRING, '""');
  return [...new Set([...bare.matchAll(STEP_READ)].map((m) => m[1]))];
}

/** The value of ``text`` against the sample input (``input`` is ``celInput``'s answer). */
export function celPreview(text: string, input: unknown): CelPreview {
  const reads = stepsRead(text);
  if (reads.length) return { kind: "unknown", reads };
  try {
    return { kind: "value", value: env.evaluate(text, { input, steps: {} }) };
  } catch (err) {
    return { kind: "error", message: firstLine(err instanceof Error ? err.message : String(err)) };
  }
}

/** A CEL value in a line: JSON, ints without their ``n``, cut when long. */
export function showValue(value: unknown, most = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? Number(v) : v)) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

/** The kind of a value, as the server's messages name them. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return "a string";
  if (typeof value === "number" || typeof value === "bigint") return "a number";
  if (typeof value === "boolean") return "true or false";
  if (Array.isArray(value)) return "a list";
  return "a map";
}
