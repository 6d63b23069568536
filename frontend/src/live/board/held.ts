// Runs that started above the board's first page while it was full: counted, not shown,
// until the reader asks for them ("12 newer runs"). What is kept per run is at most a
// page's worth, whatever the number of runs that started: an open board's memory and the
// cost of an event do not grow with the time it has been open.

export class HeldRuns {
  /** The runs counted, each with when (``tick``), oldest first; at most ``cap``. */
  private readonly ids = new Map<string, number>();
  /** Runs counted, then dropped from ``ids`` to keep it bounded. */
  private dropped = 0;
  private tick = 0;
  /** Runs started that did not match the status filter then (they may later), oldest
   * first; at most ``cap``. */
  private readonly watched = new Set<string>();
  /** More runs are newer than those counted (a read found a full page of them). */
  more = false;

  constructor(private readonly cap: number) {}

  get count(): number {
    return this.ids.size + this.dropped;
  }

  /** Count ``run``, unless it is counted already (a run's start can come twice: in its
   * event and in the read that counts runs after a reconnect). */
  add(run: string): boolean {
    if (this.ids.has(run)) return false;
    this.watched.delete(run);
    this.ids.set(run, ++this.tick);
    if (this.ids.size > this.cap) {
      this.ids.delete(this.ids.keys().next().value as string);
      this.dropped += 1;
    }
    return true;
  }

  /** A run that started outside the status filter: counted once it enters it. */
  watch(run: string): void {
    this.watched.add(run);
    if (this.watched.size > this.cap) this.watched.delete(this.watched.values().next().value as string);
  }

  /** Whether ``run`` was watched (and is no longer). */
  unwatch(run: string): boolean {
    return this.watched.delete(run);
  }

  /** Where the count stands, before the first page is read again. */
  mark(): number {
    return this.tick;
  }

  /** The first page was read again after ``mark``: the runs counted up to then are on it
   * or below it; those counted since stay held unless the read brought them. */
  settle(mark: number, shown: ReadonlySet<string>): void {
    for (const [run, tick] of this.ids) {
      if (tick <= mark || shown.has(run)) this.ids.delete(run);
    }
    this.dropped = 0;
    this.more = false;
  }

  clear(): void {
    this.ids.clear();
    this.watched.clear();
    this.dropped = 0;
    this.more = false;
  }
}
