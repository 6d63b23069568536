import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// One bundle with fixed names, so Django templates can load it with {% static %}:
// static/build/designer.js and static/build/designer.css. The designer page and
// the review page's visual diff both mount from it.
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
      input: { designer: "src/main.tsx" },
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "[name].js",
        assetFileNames: "designer[extname]",
      },
    },
  },
});
