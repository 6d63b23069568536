// A uPlot chart as a React component: made once, given new data as it comes,
// and as wide as its box. Its legend says the values under the cursor, and, while
// the cursor is elsewhere, those of the point that ``rest`` names (the latest, say)
// rather than uPlot's "--".
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

interface Props {
  /** Everything but the size, which follows the box. */
  options: Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
  height: number;
  label: string;
  /** The index of the point the legend shows while nothing is hovered; null: none. */
  rest?: (data: uPlot.AlignedData) => number | null;
}

/** Time scales split on whole minutes and hours of the zone the pages show times in
 * (common.tsx's TIME_ZONE, UTC). */
const tzDate = (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

export function Chart({ options, data, height, label, rest }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const resting = useRef(rest);
  resting.current = rest;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const atRest = (u: uPlot) => {
      // The cursor is on the chart: the legend follows it, as uPlot does.
      if (u.cursor.idx !== null && u.cursor.idx !== undefined) return;
      const idx = resting.current?.(u.data) ?? null;
      if (idx !== null) u.setLegend({ idx }, false);
    };
    const hooks = options.hooks ?? {};
    const chart = new uPlot(
      {
        tzDate,
        ...options,
        width: Math.max(el.clientWidth, 200),
        height,
        hooks: {
          ...hooks,
          ready: [...(hooks.ready ?? []), atRest],
          setCursor: [...(hooks.setCursor ?? []), atRest],
          setData: [...(hooks.setData ?? []), atRest],
        },
      },
      data,
      el,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Made again only when what it draws changes shape; new data goes to setData below.
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div className="chart" ref={box} role="img" aria-label={label} />;
}
