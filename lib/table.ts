/**
 * Plain-text tables for terminal output (status, migration reports, benchmarks).
 *
 * ```ts
 * formatTable(["phase", "ms"], [["dump", "112"], ["restore", "61"]]);
 * ```
 *
 * @module
 */

/** Formats rows under a header with aligned columns; columns of numbers align right. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = /^-?[\d.,]+( ?[a-zµ%/]+)?$/i;
  const right = header.map((_, i) =>
    rows.length > 0 && rows.every((r) => !r[i] || r[i] === "-" || numeric.test(r[i]))
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
