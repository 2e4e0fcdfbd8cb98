/**
 * Progress reporting for long operations. Library code reports through a {@link Progress} it is
 * given and never prints; the CLI passes {@link consoleProgress}, tests pass {@link silentProgress}
 * or a recorder.
 *
 * @module
 */

export interface Progress {
  /** A step begins; the returned function ends it (with an optional note). */
  step(title: string): (note?: string) => void;
  /** A line of information inside the current step. */
  info(message: string): void;
  /** Something went wrong but the operation carries on (e.g. cleanup of a missing object). */
  warn(message: string): void;
}

/** Discards everything. */
export const silentProgress: Progress = {
  step: () => () => {},
  info: () => {},
  warn: () => {},
};

/** Keeps every message, for tests. */
export class RecordingProgress implements Progress {
  readonly events: string[] = [];
  step(title: string): (note?: string) => void {
    this.events.push(`step ${title}`);
    return (note) => this.events.push(`done ${title}${note ? ` (${note})` : ""}`);
  }
  info(message: string): void {
    this.events.push(`info ${message}`);
  }
  warn(message: string): void {
    this.events.push(`warn ${message}`);
  }
}

/** Prints steps with their durations to stderr, so stdout stays free for results. */
export function consoleProgress(): Progress {
  const enc = new TextEncoder();
  const color = Deno.stderr.isTerminal() && !Deno.env.get("NO_COLOR");
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s + "\n"));
  return {
    step(title) {
      const start = performance.now();
      write(`${paint("1", "==>")} ${title}`);
      return (note) => {
        const ms = performance.now() - start;
        const took = ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
        write(`    ${paint("32", "ok")} ${took}${note ? `, ${note}` : ""}`);
      };
    },
    info: (message) => write(`    ${message}`),
    warn: (message) => write(`    ${paint("33", "warning:")} ${message}`),
  };
}
