import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// One build, fixed names, so Django templates load each page's entry with {% static %}:
// static/build/designer.js (the designer page and the review page's visual diff),
// board.js, run.js and overview.js (the live pages, src/live/), and audit.js (the audit
// log, src/audit/). What entries share (React, React Flow) goes to chunk-*.js files that
// the entries import themselves.
// All CSS the bundles import (React Flow's, uPlot's) is one file, designer.css.
export default defineConfig({
  plugins: [react()],
  // The JSON Schema of the definition format lives with the Python validator.
  server: { fs: { allow: [".."] } },
  build: {
    outDir: "../static/build",
    emptyOutDir: true,
    target: "es2022",
    cssCodeSplit: false,
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      input: {
        designer: "src/main.tsx",
        board: "src/live/board/main.tsx",
        run: "src/live/run/main.tsx",
        overview: "src/live/overview/main.tsx",
        audit: "src/audit/main.tsx",
      },
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "chunk-[name].js",
        assetFileNames: "designer[extname]",
      },
    },
  },
});
