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

/** Formats any thrown value for a terminal: message plus hint when there is one. */
export function describeError(err: unknown): string {
  if (err instanceof UserError) {
    return err.hint ? `${err.message}\nhint: ${err.hint}` : err.message;
  }
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
