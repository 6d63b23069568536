// The one bundle of the front end. Each page says what to mount with an element
// whose data-* attributes carry its data or name a json_script block: no inline script.
import "@xyflow/react/dist/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readJsonScript } from "./common/config";
import type { DesignerConfig } from "./designer/config";
import { Designer } from "./designer/Designer";
import { ReviewDiff, type ReviewDiffConfig } from "./review-diff/ReviewDiff";

function mount() {
  // Marks for bench/designer.py: when the bundle starts, and (in Designer) its first commit.
  performance.mark("designer:script");
  const designer = document.getElementById("designer-root");
  if (designer) {
    document.body.classList.add("designer-page");
    const config = readJsonScript<DesignerConfig>(designer.dataset.config ?? "designer-config");
    createRoot(designer).render(
      <StrictMode>
        <Designer config={config} />
      </StrictMode>,
    );
  }
  const review = document.getElementById("review-diff-root");
  if (review) {
    // The element's data-api is left unread: the client's paths are the schema's, from /api/.
    const { slug, number, against } = review.dataset;
    const config: ReviewDiffConfig = { slug: slug ?? "", number: Number(number), against: Number(against) };
    createRoot(review).render(
      <StrictMode>
        <ReviewDiff config={config} />
      </StrictMode>,
    );
  }
}

mount();
