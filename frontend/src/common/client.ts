// The REST API, as the browser uses it: one client typed by the OpenAPI schema
// (generated/api.d.ts, whose paths are absolute: "/api/runs/{run_id}/"), with the
// session cookie and Django's CSRF token. An error answer becomes an ApiError.
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/api";
import type { Issue } from "../types";

type ErrorBody = components["schemas"]["Error"];

export class ApiError extends Error {
  readonly status: number;
  readonly errors: Issue[];

  constructor(status: number, body: { detail?: string; errors?: Issue[] }) {
    super(body.detail || `The server answered ${status}.`);
    this.status = status;
    this.errors = body.errors ?? [];
  }

  /** The message and what the server said of each field, in one line. */
  described(): string {
    return [this.message, ...this.errors.map((e) => e.message)].join(" ");
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export const client = createClient<paths>({
  credentials: "same-origin",
  headers: { Accept: "application/json" },
});

client.use({
  onRequest({ request }) {
    if (request.method !== "GET") request.headers.set("X-CSRFToken", csrfToken());
    return request;
  },
});

/** The error answer's body (``{detail, errors}``; text when it was no JSON) as an ApiError. */
function apiError(status: number, error: unknown): ApiError {
  if (typeof error === "string") return new ApiError(status, { detail: error.slice(0, 200) });
  const body: Partial<ErrorBody> = error && typeof error === "object" ? (error as Partial<ErrorBody>) : {};
  const errors = (body.errors ?? []).map((e) => ({ step: e.step ?? null, field: e.field ?? null, message: e.message ?? "" }));
  return new ApiError(status, { detail: body.detail, errors });
}

/** What a call of ``client`` answered, or an ApiError when the server refused it:
 * ``await ok(client.GET("/api/runs/{run_id}/", {params: {path: {run_id}}}))``. */
export async function ok<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) throw apiError(response.status, error);
  return data as T;
}

/** What went wrong, in words: an Error's message, or the thing itself. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
