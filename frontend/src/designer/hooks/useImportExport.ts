// A spec read from a JSON or YAML file (the server parses it and lays it out), and the
// document, or unsaved work kept in this browser, written to one.
import { useCallback } from "react";
import { client, messageOf, ok } from "../../common/client";
import { serverLayout } from "../../graph/layout";
import { asSpec } from "../../graph/spec";
import type { Version } from "../../types";
import type { DesignerConfig } from "../config";
import type { Toast } from "../Toast";
import type { UnsavedWork } from "../unsaved";
import type { DocumentState } from "./useDocument";

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function asJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

interface Input {
  config: DesignerConfig;
  version: Version | null;
  edited: DocumentState;
  select: (nodes: string[]) => void;
  notify: (toast: Toast) => void;
  fitSoon: () => void;
}

export function useImportExport({ config, version, edited, select, notify, fitSoon }: Input) {
  const { docRef, commit } = edited;
  const slug = config.workflow.slug;

  const importText = useCallback(
    async (text: string) => {
      try {
        const parsed = await ok(client.POST("/api/convert/", { body: { spec: text, format: "json" } }));
        const spec = asSpec(parsed.spec);
        const layout = spec.steps.length ? await serverLayout(spec) : {};
        commit({ spec, layout });
        select([]);
        notify({ kind: "success", text: `Imported ${spec.steps.length} steps. Undo (Ctrl+Z) brings back what was here.` });
        fitSoon();
      } catch (err) {
        notify({ kind: "error", text: `Not imported: ${messageOf(err)}` });
      }
    },
    [commit, fitSoon, notify, select],
  );

  const exportAs = useCallback(
    async (format: "json" | "yaml") => {
      const base = `${slug}${version ? `-v${version.number}` : "-draft"}`;
      try {
        if (format === "json") {
          download(`${base}.json`, asJsonText(docRef.current.spec), "application/json");
        } else {
          const { text } = await ok(client.POST("/api/convert/", { body: { spec: docRef.current.spec, format: "yaml" } }));
          download(`${base}.yaml`, text, "application/yaml");
        }
      } catch (err) {
        notify({ kind: "error", text: messageOf(err) });
      }
    },
    [docRef, notify, slug, version],
  );

  const exportUnsaved = useCallback(
    (work: UnsavedWork) => {
      const name = `${slug}-${work.version ? `v${work.version}` : "draft"}-unsaved.json`;
      download(name, asJsonText(work.spec), "application/json");
    },
    [slug],
  );

  return { importText, exportAs, exportUnsaved };
}
