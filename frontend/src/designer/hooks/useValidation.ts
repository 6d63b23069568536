// The server's validator, asked about the spec a moment after each change: its answer
// counts only while the spec is still the one it was asked about. It is told whose
// version the spec is, so that a child saga calling this workflow back is refused here
// as saving would refuse it.
import { useEffect, useState } from "react";
import { ApiError, client, ok } from "../../common/client";
import type { Spec, ValidationResult } from "../../types";

const VALIDATE_DELAY_MS = 300;

export function useValidation(spec: Spec, workflow: string) {
  const [validation, setValidation] = useState<{ spec: Spec; result: ValidationResult } | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      ok(client.POST("/api/validate/", { body: { spec, workflow }, signal: controller.signal })).then(
        (result) => setValidation({ spec, result }),
        (err: unknown) => {
          if (controller.signal.aborted) return;
          const message = err instanceof ApiError ? err.message : "The validator could not be reached.";
          const errors = err instanceof ApiError && err.errors.length ? err.errors : [{ step: null, field: null, message }];
          setValidation({ spec, result: { valid: false, errors, warnings: [] } });
        },
      );
    }, VALIDATE_DELAY_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [spec, workflow]);

  const checked = validation !== null && validation.spec === spec;
  const result = validation?.result ?? null;
  const errorCount = result?.errors.length ?? 0;
  return {
    result,
    checked,
    errorCount,
    warningCount: result?.warnings.length ?? 0,
    /** Checked as it is, and nothing refused. */
    valid: checked && errorCount === 0,
    state: !checked ? ("checking" as const) : errorCount ? ("invalid" as const) : ("valid" as const),
  };
}

export type ValidationState = ReturnType<typeof useValidation>;
