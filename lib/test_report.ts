/**
 * Reads `deno test`'s output as it streams (NO_COLOR) for `deno task test`: passes it through,
 * puts each `SKIP <label>: <reason>` line that a test file prints while loading under that
 * file's results with the skipped test's full name, knows which file and test are running (for
 * the run's watchdog), and sums the skips up by reason at the end.
 *
 * ```ts
 * const report = new TestReport();
 * for await (const text of output) await Deno.stdout.write(enc.encode(report.feed(text)));
 * await Deno.stdout.write(enc.encode(report.end()));
 * console.log(formatSkipSummary(report.skips)); // 39 skipped: 34 BMv2 … is not installed, …
 * ```
 *
 * @module
 */

/** One skipped test (or one skipped part of the suite registered as no test at all). */
export interface Skip {
  /** The test file, as `deno test` names it (`./tests/x_test.ts`). */
  file: string;
  /** The test's name (its SKIP line's label when no skipped test matched it). */
  test: string;
  reason: string;
  /** False for a SKIP line that matched no ignored test: the file skipped it without a test. */
  registered: boolean;
}

/** What `deno test` counted (from its summary line, else from the result lines seen). */
export interface TestCounts {
  passed: number;
  failed: number;
  ignored: number;
  /** Whether the counts come from deno's own summary line. */
  fromSummary: boolean;
}

const HEADER = /^running \d+ tests? from (.+)$/;
const RESULT = /^(\S.*?) \.\.\. (ok|FAILED|ignored)\b/;
const STARTED = /^(\S.*?) \.\.\.\s*$/;
const SUMMARY = /^(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/;
const WRAP_OPEN = /^-{3,} [\w -]*output -{3,}$/;
const WRAP_CLOSE = /^-{3,} [\w -]*output end -{3,}$/;
const SECTION = /^\s*(ERRORS|FAILURES)\s*$/;
const SKIP = /^SKIP (.+)$/;

export class TestReport {
  /** The file whose tests run now (undefined before the first). */
  file?: string;
  /** The test that has started and not yet ended. */
  test?: string;
  /** Every skip so far, in the order of the files. */
  readonly skips: Skip[] = [];

  #buf = "";
  #echoed = 0;
  #pending: string[] = [];
  #fileSkipLines: string[] = [];
  #fileIgnored: string[] = [];
  #wrapper?: string;
  #wrapperShown = false;
  #own = { passed: 0, failed: 0, ignored: 0 };
  #summary?: { passed: number; failed: number; ignored: number };

  /** Takes the next piece of output; returns what to print now. */
  feed(text: string): string {
    this.#buf += text;
    let out = "";
    for (let nl = this.#buf.indexOf("\n"); nl >= 0; nl = this.#buf.indexOf("\n")) {
      const line = this.#buf.slice(0, nl);
      const echoed = this.#echoed;
      this.#buf = this.#buf.slice(nl + 1);
      this.#echoed = 0;
      out += this.#line(line, echoed);
    }
    // A test that has started and not ended ("name ... ") is shown at once; any other line is
    // shown once complete (it may be one this report moves, or one it adds lines before).
    const started = this.#echoed === 0 ? STARTED.exec(this.#buf) : null;
    if (started && !this.#buf.startsWith("-")) {
      this.test = started[1];
      out += this.#showWrapper() + this.#buf;
      this.#echoed = this.#buf.length;
    }
    return out;
  }

  /** The output ends: flushes what is held; returns what to print. */
  end(): string {
    let out = "";
    if (this.#buf) out += this.#line(this.#buf, this.#echoed);
    this.#buf = "";
    this.#echoed = 0;
    if (this.#wrapper && !this.#wrapperShown) this.#wrapper = undefined;
    // SKIP lines after the last header (printed while its tests ran) are that file's.
    this.#fileSkipLines.push(...this.#pending);
    this.#pending = [];
    out += this.#finishFile();
    return out;
  }

  /** Counts of the run: deno's summary line when it printed one, else the results seen. */
  counts(): TestCounts {
    return this.#summary
      ? { ...this.#summary, fromSummary: true }
      : { ...this.#own, fromSummary: false };
  }

  #line(line: string, echoed: number): string {
    const print = (text = line) => `${text.slice(echoed)}\n`;
    if (echoed === 0) {
      if (SKIP.test(line) && !RESULT.test(line) && !STARTED.test(line)) {
        this.#pending.push(line.slice(5));
        return "";
      }
      if (WRAP_OPEN.test(line)) {
        this.#wrapper = line;
        this.#wrapperShown = false;
        return "";
      }
      if (WRAP_CLOSE.test(line) && this.#wrapper !== undefined) {
        const shown = this.#wrapperShown;
        this.#wrapper = undefined;
        // Nothing but SKIP lines inside: the wrapper goes with them.
        return shown ? print() : "";
      }
    }
    let out = this.#showWrapper();
    const header = HEADER.exec(line);
    if (header) {
      out += this.#finishFile();
      this.file = header[1];
      this.#fileSkipLines = this.#pending;
      this.#pending = [];
      this.#fileIgnored = [];
      return out + print();
    }
    if (SECTION.test(line) || SUMMARY.test(line)) out += this.#finishFile();
    const summary = SUMMARY.exec(line);
    if (summary) {
      this.#summary = {
        passed: Number(summary[1]),
        failed: Number(summary[2]),
        ignored: Number(summary[3] ?? 0),
      };
    }
    const result = RESULT.exec(line);
    if (result) {
      this.test = undefined;
      if (result[2] === "ok") this.#own.passed++;
      else if (result[2] === "FAILED") this.#own.failed++;
      else {
        this.#own.ignored++;
        this.#fileIgnored.push(result[1]);
      }
    } else {
      const started = STARTED.exec(line);
      if (started) this.test = started[1];
    }
    return out + print();
  }

  #showWrapper(): string {
    if (this.#wrapper === undefined || this.#wrapperShown) return "";
    this.#wrapperShown = true;
    return `${this.#wrapper}\n`;
  }

  /** The SKIP lines of the file that just ended, each with its test's name, under its results. */
  #finishFile(): string {
    // Before the first file: its SKIP lines stay pending until its header.
    if (this.file === undefined) return "";
    const found = pairSkips(this.file, this.#fileSkipLines, this.#fileIgnored);
    this.#fileSkipLines = [];
    this.#fileIgnored = [];
    this.skips.push(...found);
    return found.map((s) =>
      `SKIP ${s.test}: ${s.reason}${s.registered ? "" : " (skipped without a test)"}\n`
    ).join("");
  }
}

/**
 * Pairs a file's SKIP lines (`<label>: <reason>`) with its ignored tests: a line whose label is
 * a test's name goes with that test; the rest go in order with the remaining ignored tests.
 * Ignored tests without a line get "no reason printed"; lines without a test are kept as
 * unregistered skips.
 */
export function pairSkips(
  file: string,
  lines: readonly string[],
  ignored: readonly string[],
): Skip[] {
  const free = [...lines];
  const out: Skip[] = [];
  const unmatched: string[] = [];
  for (const test of ignored) {
    const i = free.findIndex((l) => l.startsWith(`${test}: `));
    if (i >= 0) {
      out.push({ file, test, reason: free[i].slice(test.length + 2), registered: true });
      free.splice(i, 1);
    } else unmatched.push(test);
  }
  for (const test of unmatched) {
    const line = free.shift();
    out.push({
      file,
      test,
      reason: line === undefined ? "no reason printed" : splitSkipLine(line).reason,
      registered: true,
    });
  }
  for (const line of free) out.push({ file, ...splitSkipLine(line), registered: false });
  // In the order the tests ran.
  const order = (s: Skip) => (s.registered ? ignored.indexOf(s.test) : ignored.length);
  return out.sort((a, b) => order(a) - order(b));
}

function splitSkipLine(line: string): { test: string; reason: string } {
  const i = line.indexOf(": ");
  return i < 0 ? { test: line, reason: "no reason printed" } : {
    test: line.slice(0, i),
    reason: line.slice(i + 2),
  };
}

/**
 * The part of a skip reason that names the problem: before the first "; " (the hint follows) or
 * ", so " (a consequence follows).
 */
export function reasonKey(reason: string): string {
  return reason.split(/; |, so /)[0].trim();
}

/**
 * `39 skipped: 34 BMv2 (simple_switch_grpc) is not installed, 5 CRIU reports no memory
 * tracking (mem_dirty_track)`, largest group first; empty when nothing was skipped.
 */
export function formatSkipSummary(skips: readonly Skip[], total = skips.length): string {
  if (!skips.length && !total) return "";
  const groups = new Map<string, number>();
  for (const s of skips) {
    groups.set(reasonKey(s.reason), (groups.get(reasonKey(s.reason)) ?? 0) + 1);
  }
  // deno counted more than were shown (e.g. ignored steps): those have no reason here.
  if (total > skips.length) groups.set("no reason printed", total - skips.length);
  const parts = [...groups].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([key, n]) => `${n} ${key}`);
  return `${Math.max(total, skips.length)} skipped: ${parts.join(", ")}`;
}
