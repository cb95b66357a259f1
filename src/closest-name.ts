/**
 * The valid name nearest to a mistyped one, so an unknown command, option or CAAS_* variable is
 * answered with what was most likely meant instead of only being refused.
 */

/**
 * Edits (insert, delete, substitute, or swap two neighbours) that turn `a` into `b`. A swap
 * counts as one edit, since `kyes` for `keys` is one slip of the fingers, not two.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, index) => index)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((rows[i - 1]?.[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (rows[i - 1]?.[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** The candidate nearest to `name` (the first of equals); undefined only when there are no candidates. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let closest: string | undefined;
  let distance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const candidateDistance = editDistance(name, candidate);
    if (candidateDistance < distance) {
      closest = candidate;
      distance = candidateDistance;
    }
  }
  return closest;
}

/**
 * The candidate `name` was probably meant to be: the nearest one, if it is within a third of
 * the name's length (at least one edit). Further away, a suggestion is a guess that misleads.
 */
export function likelyMeant(name: string, candidates: readonly string[]): string | undefined {
  const closest = closestName(name, candidates);
  if (closest === undefined) return undefined;
  return editDistance(name, closest) <= Math.max(1, Math.floor(name.length / 3)) ? closest : undefined;
}
