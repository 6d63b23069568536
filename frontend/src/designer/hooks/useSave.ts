// Saving the draft and sending it for review: what may be done now, and doing it.
import { useCallback, useState } from "react";
import { ApiError, client, ok } from "../../common/client";
import { cleanLayout } from "../../graph/model";
import type { Version } from "../../types";
import { versionUrl, type DesignerConfig } from "../config";
import type { Toast } from "../Toast";
import type { DocumentState } from "./useDocument";
import type { UnsavedState } from "./useUnsavedWork";
import type { VersionState } from "./useVersion";

interface Input {
  config: DesignerConfig;
  edited: DocumentState;
  versions: VersionState;
  unsaved: UnsavedState;
  /** Whether the validator has checked the document as it is and found no error. */
  valid: boolean;
  /** Whether something else the designer does blocks saving (a layout on its way). */
  blocked: boolean;
  notify: (toast: Toast) => void;
}

export function useSave({ config, edited, versions, unsaved, valid, blocked, notify }: Input) {
  const [busy, setBusy] = useState<"save" | "submit" | null>(null);
  const { docRef, note } = edited;
  const { version, readOnly, dirty, neverSaved, stored, setVersion } = versions;
  const { storeKey, forget } = unsaved;
  const slug = config.workflow.slug;
  const idle = busy === null && !blocked;
  const canSave = !readOnly && (neverSaved || dirty) && valid && idle;
  const canSubmit =
    !readOnly && valid && idle && edited.doc.spec.steps.length > 0 &&
    (version === null || version.acts.includes("submit") || dirty);

  const save = useCallback(async (): Promise<Version | null> => {
    const sent = docRef.current;
    const sentNote = note;
    const sentKey = storeKey;
    setBusy("save");
    try {
      const body = { spec: sent.spec, layout: cleanLayout(sent), note: sentNote };
      const answer =
        version && version.status === "draft"
          ? await ok(client.PATCH("/api/workflows/{slug}/versions/{number}/", { params: { path: { slug, number: version.number } }, body }))
          : await ok(client.POST("/api/workflows/{slug}/versions/", { params: { path: { slug } }, body }));
      const saved = answer as Version;
      stored(saved, sent, sentNote);
      forget(sentKey);
      if (!version || version.number !== saved.number) {
        window.history.replaceState(null, "", versionUrl(config, saved.number, "designer"));
      }
      const warned = saved.warnings?.length ?? 0;
      notify({
        kind: "success",
        text: `Saved draft v${saved.number}.${warned ? ` ${warned} warning${warned === 1 ? "" : "s"} remain.` : ""}`,
      });
      return saved;
    } catch (err) {
      notify({ kind: "error", text: err instanceof ApiError ? err.described() : String(err) });
      return null;
    } finally {
      setBusy(null);
    }
  }, [config, docRef, forget, note, notify, slug, storeKey, stored, version]);

  const submit = useCallback(async () => {
    let target = version;
    if (dirty || !target) target = await save();
    if (!target) return;
    setBusy("submit");
    try {
      const path = { slug, number: target.number };
      const submitted = (await ok(client.POST("/api/workflows/{slug}/versions/{number}/submit/", { params: { path } }))) as Version;
      setVersion(submitted);
      notify({
        kind: "success",
        text: `v${submitted.number} is in review.`,
        link: { href: versionUrl(config, submitted.number, "review"), label: "Open the review page" },
      });
    } catch (err) {
      notify({ kind: "error", text: err instanceof ApiError ? err.message : String(err) });
    } finally {
      setBusy(null);
    }
  }, [config, dirty, notify, save, setVersion, slug, version]);

  return { busy, canSave, canSubmit, save, submit };
}
