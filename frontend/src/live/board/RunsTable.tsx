// The board's page of runs as a table. A row renders again only when its run changed or
// the clock ticked, so a batch of events costs what the runs it touches cost.
import { memo } from "react";
import { ago, Time } from "../../common/time";
import { shortId, StatusBadge } from "../common";
import type { BoardConfig, RunRow } from "../types";

export function runUrl(config: BoardConfig, id: string): string {
  return config.run_url.replace("00000000-0000-0000-0000-000000000000", id);
}

export function RunsTable({ rows, fresh, now, config }: { rows: RunRow[]; fresh: ReadonlySet<string>; now: number; config: BoardConfig }) {
  return (
    <div className="table-scroll">
      <table className="table runs-table" data-testid="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Workflow</th>
            <th>Status</th>
            <th>Started by</th>
            <th>Started</th>
            <th className="num">Duration</th>
            <th>Last change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <RunLine key={row.id} row={row} fresh={fresh.has(row.id)} now={now} config={config} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const RunLine = memo(function RunLine({ row, fresh, now, config }: { row: RunRow; fresh: boolean; now: number; config: BoardConfig }) {
  return (
    <tr data-run={row.id} data-status={row.status} className={fresh ? "row-new" : undefined}>
      <td className="nowrap"><a className="strong mono" href={runUrl(config, row.id)}>{shortId(row.id)}</a></td>
      <td>
        <a href={config.overview_url.replace("__slug__", row.workflow)}>{row.workflow_name}</a>{" "}
        <span className="muted">v{row.version}</span>
      </td>
      <td><StatusBadge status={row.status} /></td>
      <td>{row.started_by ?? <span className="muted">—</span>}</td>
      <td className="nowrap"><Time iso={row.created_at} /></td>
      <td className="num">{runDuration(row, now)}</td>
      <td className="nowrap muted"><Time iso={row.updated_at}>{ago(row.updated_at, now)}</Time></td>
    </tr>
  );
});

function runDuration(row: RunRow, now: number): string {
  const start = Date.parse(row.created_at);
  const end = row.finished_at ? Date.parse(row.finished_at) : now;
  const s = Math.max(0, end - start) / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
