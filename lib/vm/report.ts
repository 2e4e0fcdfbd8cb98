/**
 * What vm-check reads out of its logs: the test run's closing lines and what provisioning could
 * not install. Pure: the logs come in as text (Vagrant prefixes the VM's lines with
 * `    default: `, and progress bars use carriage returns; both are handled here).
 *
 * @module
 */

/** The counts of `deno task test`'s closing line. */
export interface TestSummary {
  passed: number;
  failed: number;
  skipped: number;
  /** The line counting the skips by reason (`39 skipped: 34 BMv2 …`), when there is one. */
  skipReasons?: string;
}

/** The lines of a log as a terminal would have shown them, without Vagrant's machine prefix. */
export function logLines(text: string): string[] {
  return text
    .split("\n")
    // A progress bar rewrites its line with \r: the last state is what was seen.
    .map((line) => line.split("\r").filter((part) => part.trim() !== "").at(-1) ?? "")
    // deno-lint-ignore no-control-regex
    .map((line) => line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ""))
    .map((line) => line.replace(/^\s*default:\s?/, ""))
    .map((line) => line.trimEnd());
}

/** The last `N passed, N failed, N skipped` of a test log, with the skip reasons before it. */
export function parseTestSummary(text: string): TestSummary | undefined {
  const lines = logLines(text);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(lines[i].trim());
    if (!m) continue;
    const reasons = lines.slice(Math.max(0, i - 3), i).map((l) => l.trim())
      .find((l) => /^\d+ skipped: /.test(l));
    return {
      passed: Number(m[1]),
      failed: Number(m[2]),
      skipped: Number(m[3] ?? 0),
      ...(reasons ? { skipReasons: reasons } : {}),
    };
  }
  return undefined;
}

/**
 * What lab/provision.sh listed under "Not installed" at its end (sources it could not reach,
 * programs still missing), in order, without repeats.
 */
export function parseNotInstalled(text: string): string[] {
  const lines = logLines(text);
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    const t = line.trim();
    if (t.startsWith("Not installed")) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    const m = /^- (.+)$/.exec(t);
    if (m) {
      if (!out.includes(m[1])) out.push(m[1]);
    } else inside = false;
  }
  return out;
}

/** The last non-empty line of a log (for a progress line while a step runs). */
export function lastLine(text: string): string {
  return logLines(text).map((l) => l.trim()).filter((l) => l !== "").at(-1) ?? "";
}

/** `1 h 02 min`, `3 min 05 s`, `42 s`: a duration for people. */
export function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}
