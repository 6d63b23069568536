// What a server-rendered page hands its island: JSON in a json_script block, never
// inline script.

/** The JSON of the ``<script type="application/json">`` block with this id. */
export function readJsonScript<T>(id: string): T {
  const element = document.getElementById(id);
  if (!element?.textContent) throw new Error(`The page has no #${id} data.`);
  return JSON.parse(element.textContent) as T;
}

/** The JSON block that ``root``'s data-config attribute names. */
export function readConfig<T>(root: HTMLElement): T {
  return readJsonScript<T>(root.dataset.config ?? "");
}
