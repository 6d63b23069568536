/** The run's search attributes: what finds it on the board, each value a link to the board
 * filtered by it (DESIGN.md "Finding runs"). Nothing when the workflow declares none. */
export function SearchTile({ workflow, search }: { workflow: string; search: Record<string, string> }) {
  const names = Object.keys(search).sort();
  if (!names.length) return null;
  return (
    <div className="stat stat-wide" data-testid="run-search">
      <span className="stat-label" id="run-search-label">Found by</span>
      <dl className="search-attrs" aria-labelledby="run-search-label">
        {names.map((name) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>
              <a href={boardFilteredBy(workflow, name, search[name])} title={`Runs of ${workflow} whose ${name} is ${search[name]}`}>
                {search[name]}
              </a>
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

function boardFilteredBy(workflow: string, name: string, value: string): string {
  const query = new URLSearchParams({ workflow, [`attr.${name}`]: value });
  return `/runs/?${query.toString()}`;
}
