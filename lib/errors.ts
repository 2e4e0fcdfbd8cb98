/**
 * Error types shared by the whole library.
 *
 * `UserError` is for conditions the user can fix (bad lab file, unknown table name, missing tool):
 * the CLI prints its message and hint and exits 1. Anything else is an internal failure (exit 2).
 *
 * @module
 */

/** A mistake the user can fix; `hint` says how. */
export class UserError extends Error {
  override name = "UserError";
  /** One sentence telling the user what to do about it. */
  readonly hint?: string;
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.hint = options.hint;
  }
}

/** A required tool or kernel capability is missing on this machine. */
export class MissingCapabilityError extends UserError {
  override name = "MissingCapabilityError";
}

/** A command run by the library failed; carries its argv, exit code and output tail. */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    readonly argv: readonly string[],
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const tail = (stderr || stdout).trim().split("\n").slice(-6).join("\n");
    super(`Command failed (exit ${code}): ${argv.join(" ")}${tail ? `\n${tail}` : ""}`);
  }
}

/**
 * A command ran past its time bound and was killed with its children by the shell's watchdog
 * (lib/shell.ts). Its exit code is 124, as with timeout(1); `stdout`/`stderr` hold what it wrote.
 */
export class CommandTimeoutError extends CommandError {
  override name = "CommandTimeoutError";
  /** The program the bound was chosen for (`podman` in `nsenter --net=… -- podman ps`). */
  readonly program: string;
  constructor(
    argv: readonly string[],
    readonly timeoutMs: number,
    stdout: string,
    stderr: string,
    /** Processes the watchdog killed (the command and its descendants). */
    readonly killed: readonly number[] = [],
    program?: string,
  ) {
    super(argv, 124, stdout, stderr);
    this.program = program ?? argv[0];
    const tail = (stderr || stdout).trim().split("\n").slice(-6).join("\n");
    this.message = `${timeoutMessage(this.program, argv, timeoutMs, killed.length)}` +
      (tail ? `\n${tail}` : "");
  }
}

/** `podman did not finish within 120 s and was killed (…): podman pod ls` */
export function timeoutMessage(
  program: string,
  argv: readonly string[],
  timeoutMs: number,
  killed: number,
): string {
  const bound = timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`;
  const what = killed > 1 ? `killed with ${killed - 1} child process(es)` : "killed";
  return `Command timed out: ${program} did not finish within ${bound} and was ${what} ` +
    `(bound per call, or P4CF_COMMAND_TIMEOUT_S): ${argv.join(" ")}`;
}

/** Formats any thrown value for a terminal: message plus hint when there is one. */
export function describeError(err: unknown): string {
  if (err instanceof UserError) {
    return err.hint ? `${err.message}\nhint: ${err.hint}` : err.message;
  }
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
