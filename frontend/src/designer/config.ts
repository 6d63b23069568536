// What the server-rendered page hands the designer, through json_script.
import type { Layout, Spec, Version } from "../types";

export interface DesignerConfig {
  /** The API root, "/api/"; not read: the client's paths are the schema's, absolute. */
  api: string;
  workflow: { slug: string; name: string };
  /** Who is signed in: whose unsaved work this browser keeps. */
  user: string;
  urls: {
    /** The workflow's page; version pages hang under it: versions/<n>/. */
    workflow: string;
    /** The page that starts a new draft. */
    new_draft: string;
  };
  /** The version opened, or null for a new draft. */
  version: Version | null;
  /** Where a new draft starts: a version's spec and layout, or an empty canvas. */
  start: { spec: Spec; layout: Layout; from: number | null } | null;
  /** Whether the user may create drafts of this workflow. */
  can_create: boolean;
  /** The workflow's draft being written, if any. */
  open_draft: number | null;
  published: number | null;
}

export function versionUrl(config: DesignerConfig, number: number, page = ""): string {
  return `${config.urls.workflow}versions/${number}/${page ? `${page}/` : ""}`;
}
