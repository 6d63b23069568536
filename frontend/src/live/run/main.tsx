// The run page's island: mounts on #run-root with the data the view put in json_script.
import "@xyflow/react/dist/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readConfig } from "../../common/config";
import type { RunPageConfig } from "../types";
import { RunPage } from "./RunPage";

const root = document.getElementById("run-root");
if (root) {
  const config = readConfig<RunPageConfig>(root);
  createRoot(root).render(
    <StrictMode>
      <RunPage config={config} />
    </StrictMode>,
  );
}
