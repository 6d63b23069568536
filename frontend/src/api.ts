// The REST API, as the browser uses it: session cookie plus Django's CSRF token.
import type {
  Activity,
  ApiErrorBody,
  Diff,
  Group,
  Issue,
  Layout,
  LayoutResult,
  Simulation,
  Spec,
  ValidationResult,
  Version,
} from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly errors: Issue[];

  constructor(status: number, body: Partial<ApiErrorBody>) {
    super(body.detail || `The server answered ${status}.`);
    this.status = status;
    this.errors = body.errors ?? [];
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request<T>(
  method: string,
  url: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, (data ?? {}) as Partial<ApiErrorBody>);
  return data as T;
}

/** The API of one workflow, rooted at /api/. */
export class Api {
  readonly root: string;
  readonly slug: string;

  constructor(root: string, slug: string) {
    this.root = root;
    this.slug = slug;
  }

  private versions(number?: number): string {
    const base = `${this.root}workflows/${encodeURIComponent(this.slug)}/versions/`;
    return number === undefined ? base : `${base}${number}/`;
  }

  version(number: number): Promise<Version> {
    return request("GET", this.versions(number));
  }

  createVersion(spec: Spec, layout: Layout, note: string): Promise<Version> {
    return request("POST", this.versions(), { spec, layout, note });
  }

  updateVersion(number: number, spec: Spec, layout: Layout, note: string): Promise<Version> {
    return request("PATCH", this.versions(number), { spec, layout, note });
  }

  submit(number: number): Promise<Version> {
    return request("POST", `${this.versions(number)}submit/`);
  }

  diff(number: number, against: number): Promise<Diff> {
    return request("GET", `${this.versions(number)}diff/?against=${against}`);
  }

  validate(spec: Spec, signal?: AbortSignal): Promise<ValidationResult> {
    return request("POST", `${this.root}validate/`, { spec }, signal);
  }

  activities(): Promise<Activity[]> {
    return request("GET", `${this.root}activities/`);
  }

  groups(): Promise<Group[]> {
    return request("GET", `${this.root}groups/`);
  }

  layout(spec: { steps: { id: string; after?: string[] }[] }): Promise<LayoutResult> {
    return request("POST", `${this.root}layout/`, { spec });
  }

  simulate(spec: Spec, failStep: string | null): Promise<Simulation> {
    return request("POST", `${this.root}simulate/`, { spec, fail_step: failStep });
  }

  simulateEach(spec: Spec): Promise<{ scenarios: Simulation[] }> {
    return request("POST", `${this.root}simulate/`, { spec, fail_step: null, fail_each: true });
  }

  /** Parse JSON or YAML text on the server, or render a spec as JSON or YAML text. */
  convert(spec: Spec | string, format: "json" | "yaml"): Promise<{ spec: unknown; text: string }> {
    return request("POST", `${this.root}convert/`, { spec, format });
  }
}
