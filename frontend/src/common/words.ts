// How every page writes counts and the kernel's names.

/** "1 step", "3 steps". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A status as words: "compensation_failed" is "compensation failed", "in_review" "in review". */
export function statusWord(status: string): string {
  return status.replaceAll("_", " ");
}
