// What a step may name: the activities registered in code and the groups of people.
import { useEffect, useState } from "react";
import { client, ok } from "../../common/client";
import type { Activity, Group } from "../../types";

export function useCatalog() {
  const [activities, setActivities] = useState<Activity[]>([]);
  const [groups, setGroups] = useState<Group[]>([]);
  useEffect(() => {
    ok(client.GET("/api/activities/")).then(setActivities, () => setActivities([]));
    ok(client.GET("/api/groups/")).then(setGroups, () => setGroups([]));
  }, []);
  return { activities, groups };
}

export type Catalog = ReturnType<typeof useCatalog>;
