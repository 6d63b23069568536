// Where the boxes are and what the canvas shows of them: the first view, fitted before
// the first paint; first positions for steps that have none (layers by depth at once,
// the server's layout when it comes); auto-layout on demand; fitting the view.
import { getViewportForBounds, useReactFlow, type Viewport } from "@xyflow/react";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { layeredLayout, layoutBounds, missingPositions, type Doc } from "../../graph/model";
import { serverLayout } from "../../graph/layout";
import type { Toast } from "../Toast";
import type { DocumentState } from "./useDocument";

export const MIN_ZOOM = 0.02;
const FIT_PADDING = 0.12;
/**
 * The least zoom fitting chooses: a step's name (0.86rem) is still 11 px on screen. A
 * graph too big to show whole at it is shown from its start, to be panned, with the
 * map showing the whole; zooming out further is the user's choice.
 */
export const READABLE_ZOOM = 0.8;
/** Room, px on screen, between the pane's edge and a graph shown from its start. */
const START_MARGIN = 24;
/** The designer's columns (designer.css): the palette, the side panel, the header and foot. */
const PALETTE_WIDTH = 210;
const PANEL_WIDTH = 380;
const CHROME_HEIGHT = 57 + 64;

/**
 * The view that shows every box in a pane of this size, at up to 100 % and never below
 * READABLE_ZOOM; on an axis where the graph is then bigger than the pane, from its
 * start (left, where a run begins; top). Computed before the first render too, so a big
 * workflow is drawn once, already fitted, instead of at 100 % and then again.
 */
function fitted(doc: Doc, width: number, height: number): Viewport {
  const bounds = layoutBounds(doc);
  if (!bounds || width <= 0 || height <= 0) return { x: 40, y: 40, zoom: 1 };
  const view = getViewportForBounds(bounds, width, height, READABLE_ZOOM, 1, FIT_PADDING);
  const { zoom } = view;
  const x = bounds.width * zoom + 2 * START_MARGIN > width ? START_MARGIN - bounds.x * zoom : view.x;
  const y = bounds.height * zoom + 2 * START_MARGIN > height ? START_MARGIN - bounds.y * zoom : view.y;
  return { x, y, zoom };
}

interface Input {
  edited: DocumentState;
  readOnly: boolean;
  /** The document opened is laid out after all: what counts as unchanged follows. */
  rebase: (next: Doc) => void;
  notify: (toast: Toast) => void;
}

export function useLayout({ edited, readOnly, rebase, notify }: Input) {
  const flow = useReactFlow();
  const { docRef, dispatch, commit } = edited;
  const [laying, setLaying] = useState(false);
  const [layoutCount, setLayoutCount] = useState(0);
  const pane = useRef<HTMLDivElement>(null);

  const fit = useCallback(
    (duration = 200) => {
      const rect = pane.current?.getBoundingClientRect();
      if (!rect || !layoutBounds(docRef.current)) return;
      void flow.setViewport(fitted(docRef.current, rect.width, rect.height), { duration });
    },
    [docRef, flow],
  );
  /** Fits the view once React Flow has drawn what was just changed. */
  const fitSoon = useCallback((duration = 200) => window.requestAnimationFrame(() => fit(duration)), [fit]);

  const runLayout = useCallback(
    async (initial: boolean) => {
      const current = docRef.current;
      setLaying(true);
      try {
        const positions = await serverLayout(current.spec);
        const now = docRef.current;
        if (now.spec !== current.spec) return; // the steps changed meanwhile; a later layout will follow
        const next = { ...now, layout: positions };
        if (initial) {
          dispatch({ type: "reset", doc: next });
          rebase(next);
        } else {
          commit(next);
        }
        setLayoutCount((n) => n + 1);
        fitSoon(initial ? 0 : 200);
      } catch (err) {
        notify({ kind: "error", text: err instanceof Error ? err.message : "The layout failed." });
      } finally {
        setLaying(false);
      }
    },
    [commit, dispatch, docRef, fitSoon, notify, rebase],
  );

  const startDoc = useRef(edited.doc);
  // A first guess from the window, corrected from the pane's real size before the first paint.
  const [firstView] = useState(() =>
    fitted(edited.doc, window.innerWidth - (readOnly ? 0 : PALETTE_WIDTH) - PANEL_WIDTH, window.innerHeight - CHROME_HEIGHT),
  );
  useLayoutEffect(() => {
    const rect = pane.current?.getBoundingClientRect();
    if (rect && layoutBounds(startDoc.current)) void flow.setViewport(fitted(startDoc.current, rect.width, rect.height));
    // Only on opening: afterwards the view is the user's.
  }, []);

  const laidOutOnOpen = useRef(false);
  useEffect(() => {
    const first = startDoc.current;
    if (laidOutOnOpen.current) return;
    laidOutOnOpen.current = true;
    if (first.spec.steps.length && missingPositions(first)) {
      // Placeholders at once, so the canvas is never empty while the server lays it out.
      dispatch({ type: "reset", doc: { ...first, layout: { ...layeredLayout(first.spec), ...first.layout } } });
      void runLayout(true);
    }
  }, [dispatch, runLayout]);

  return { pane, firstView, laying, layoutCount, runLayout, fit, fitSoon };
}
