// The audit log page's island: mounts on #audit-root with the data the view put in json_script.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readConfig } from "../common/config";
import { dropEmptyFields } from "../common/forms";
import { AuditLog, type AuditConfig } from "./AuditLog";

const root = document.getElementById("audit-root");
if (root) {
  const config = readConfig<AuditConfig>(root);
  createRoot(root).render(
    <StrictMode>
      <AuditLog config={config} />
    </StrictMode>,
  );
}
const filters = document.getElementById("audit-filters");
if (filters instanceof HTMLFormElement) dropEmptyFields(filters);
