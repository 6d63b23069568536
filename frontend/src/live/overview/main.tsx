// The workflow overview's island: mounts on #overview-root with the data the view put in json_script.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readConfig } from "../../common/config";
import type { OverviewConfig } from "../types";
import { Overview } from "./Overview";

const root = document.getElementById("overview-root");
if (root) {
  const config = readConfig<OverviewConfig>(root);
  createRoot(root).render(
    <StrictMode>
      <Overview config={config} />
    </StrictMode>,
  );
}
