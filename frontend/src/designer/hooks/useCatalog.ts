// What a step may name: the activities registered in code, the groups of people, and
// the workflows the user may see (a child saga runs one that has a published version).
import { useEffect, useState } from "react";
import { client, ok } from "../../common/client";
import type { Activity, Group, Workflow } from "../../types";

/** Pages of workflows read at most: 50 a page, past anything a picker should list. */
const MAX_PAGES = 40;

type WorkflowPage = { next: string | null; results: Workflow[] };

/** Every workflow the user may see, page after page (the list is paginated). */
async function allWorkflows(): Promise<Workflow[]> {
  let page: WorkflowPage = await ok(client.GET("/api/workflows/"));
  const found = [...page.results];
  for (let n = 1; page.next && n < MAX_PAGES; n++) {
    // The next page's link, as the server gave it: the typed client knows no ?page=.
    const response = await fetch(page.next, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) break;
    page = (await response.json()) as WorkflowPage;
    found.push(...page.results);
  }
  return found;
}

export function useCatalog() {
  const [activities, setActivities] = useState<Activity[]>([]);
  const [groups, setGroups] = useState<Group[]>([]);
  /** Null until read. */
  const [workflows, setWorkflows] = useState<Workflow[] | null>(null);
  useEffect(() => {
    ok(client.GET("/api/activities/")).then(setActivities, () => setActivities([]));
    ok(client.GET("/api/groups/")).then(setGroups, () => setGroups([]));
    allWorkflows().then(setWorkflows, () => setWorkflows([]));
  }, []);
  return { activities, groups, workflows };
}

export type Catalog = ReturnType<typeof useCatalog>;
