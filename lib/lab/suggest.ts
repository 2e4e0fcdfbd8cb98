/**
 * "Did you mean" suggestions for misspelt keys and names.
 *
 * @module
 */

/** Levenshtein edit distance. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The closest candidate within a small edit distance (or sharing a prefix), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const norm = c.toLowerCase().replaceAll("-", "_");
    let score = editDistance(w, norm);
    if (norm.startsWith(w) || w.startsWith(norm)) score = Math.min(score, 1);
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  return bestScore <= limit ? best : undefined;
}

/** A hint sentence: `did you mean "x"?` or the list of allowed words. */
export function suggestionHint(word: string, candidates: readonly string[], what: string): string {
  const near = closest(word, candidates);
  if (near) return `did you mean "${near}"?`;
  return candidates.length ? `${what} are: ${candidates.join(", ")}` : `there are no ${what}`;
}
