// The board page's island: mounts on #board-root with the data the view put in json_script.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readConfig } from "../../common/config";
import type { BoardConfig } from "../types";
import { Board } from "./Board";
import { autoSubmit } from "./filters";
import { SavedViews } from "./SavedViews";

const root = document.getElementById("board-root");
if (root) {
  const config = readConfig<BoardConfig>(root);
  createRoot(root).render(
    <StrictMode>
      <SavedViews config={config} />
      <Board config={config} />
    </StrictMode>,
  );
}
autoSubmit(document.getElementById("board-filters"));
