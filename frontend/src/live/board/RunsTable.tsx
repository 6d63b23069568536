// The board's page of runs as a table. A row renders again only when its run changed or
// the clock ticked, so a batch of events costs what the runs it touches cost.
//
// The runs' search attributes are columns: one each when one workflow is chosen (its
// attributes), else one column listing each run's. On a phone a row is a card, each cell
// on a line of its own under its column's name; the explicit roles keep it a table to
// screen readers once CSS makes its parts blocks.
import { memo } from "react";
import { ago, Time } from "../../common/time";
import { shortId, StatusBadge } from "../common";
import type { BoardConfig, RunRow } from "../types";

export function runUrl(config: BoardConfig, id: string): string {
  return config.run_url.replace("00000000-0000-0000-0000-000000000000", id);
}

interface Props {
  rows: RunRow[];
  fresh: ReadonlySet<string>;
  now: number;
  config: BoardConfig;
}

export function RunsTable({ rows, fresh, now, config }: Props) {
  const attributes = config.attributes;
  return (
    <div className="table-scroll">
      <table className="table runs-table run-cards" data-testid="runs" role="table">
        <thead role="rowgroup">
          <tr role="row">
            <th role="columnheader">Run</th>
            <th role="columnheader">Workflow</th>
            <th role="columnheader">Status</th>
            {attributes ? (
              attributes.map((name) => (
                <th role="columnheader" key={name} data-attr={name}>
                  <code className="attr-name">{name}</code>
                </th>
              ))
            ) : (
              <th role="columnheader">Search attributes</th>
            )}
            <th role="columnheader">Started by</th>
            <th role="columnheader">Started</th>
            <th role="columnheader" className="num">Duration</th>
            <th role="columnheader">Last change</th>
          </tr>
        </thead>
        <tbody role="rowgroup">
          {rows.map((row) => (
            <RunLine key={row.id} row={row} fresh={fresh.has(row.id)} now={now} config={config} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const None = () => <span className="muted">—</span>;

/** A run's search attributes in one cell: "name: value", one to a line. */
function SearchList({ search }: { search: Record<string, string> }) {
  const entries = Object.entries(search ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <None />;
  return (
    <ul className="search-list">
      {entries.map(([name, value]) => (
        <li key={name}>
          <span className="attr-name">{name}:</span> <span className="attr-value">{value}</span>
        </li>
      ))}
    </ul>
  );
}

const RunLine = memo(function RunLine({ row, fresh, now, config }: { row: RunRow; fresh: boolean; now: number; config: BoardConfig }) {
  const search = row.search ?? {};
  return (
    <tr role="row" data-run={row.id} data-status={row.status} className={fresh ? "row-new" : undefined}>
      <td role="cell" className="nowrap run-cell"><a className="strong mono" href={runUrl(config, row.id)}>{shortId(row.id)}</a></td>
      <td role="cell" data-label="Workflow">
        <a href={config.overview_url.replace("__slug__", row.workflow)}>{row.workflow_name}</a>{" "}
        <span className="muted">v{row.version}</span>
      </td>
      <td role="cell" data-label="Status"><StatusBadge status={row.status} /></td>
      {config.attributes ? (
        config.attributes.map((name) => (
          <td role="cell" key={name} data-label={name} data-attr={name} className="attr-value">
            {search[name] ?? <None />}
          </td>
        ))
      ) : (
        <td role="cell" data-label="Search" className="search-cell"><SearchList search={search} /></td>
      )}
      <td role="cell" data-label="Started by">{row.started_by ?? <None />}</td>
      <td role="cell" data-label="Started" className="nowrap"><Time iso={row.created_at} /></td>
      <td role="cell" data-label="Duration" className="num">{runDuration(row, now)}</td>
      <td role="cell" data-label="Last change" className="nowrap muted"><Time iso={row.updated_at}>{ago(row.updated_at, now)}</Time></td>
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
