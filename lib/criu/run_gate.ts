/**
 * A gate that holds a command started ahead of time at its very start, until we let it go.
 *
 * Why: starting CRIU costs more than most of what it then does for a small process. `criu
 * restore` is launched through `nsenter`, `setsid` and a waiting parent, and `criu` itself loads
 * some twenty shared libraries and its kernel cache: 10-30 ms on a loaded machine, while CRIU's
 * own work (its log's timestamps) is 6-14 ms. Started before the process is frozen and held at a
 * gate, all of that is paid while the process still serves; opening the gate costs a wake-up.
 *
 * How: the gate is a file we hold an exclusive `flock(2)` on. The held side (`sh`, see
 * {@link gateWaitSh}) waits for a shared lock on it with util-linux `flock -w`, then reads the
 * file: `go` lets it continue; anything else, or nothing, makes it fail. We write `go` (or
 * `stop`) and close the file, which releases the lock. If we die first, the kernel releases the
 * lock with an empty file: the held command fails before it has touched anything.
 *
 * @module
 */
import { shellQuote } from "../shell.ts";

/** The word that lets a held command continue. */
export const GATE_GO = "go";
/** The word that makes it fail. */
export const GATE_STOP = "stop";
/** What {@link gateReadSh} leaves when the gate stayed closed too long. */
export const GATE_TIMEOUT = "timeout";

/** A held command waits at most this long, s: a migration that forgot it does not leave it. */
export const GATE_WAIT_S = 600;

/**
 * `sh` commands that wait for the gate at `path` to open and leave what it says in `$gate`
 * (pure): {@link GATE_GO}, {@link GATE_STOP}, {@link GATE_TIMEOUT} after `waitS` seconds (a
 * fraction is fine), or nothing when its holder died. The gate is descriptor 9 only inside the
 * braces: the shell restores what 9 was afterwards (runc hands CRIU its socket as 9, say).
 */
export function gateReadSh(path: string, waitS = GATE_WAIT_S): string {
  return `gate=; { if flock -s -w ${waitS} 9; then read -r gate <&9; ` +
    `else gate=${GATE_TIMEOUT}; fi; } 9<${shellQuote(path)}`;
}

/**
 * `sh` commands that succeed once the gate at `path` opens with {@link GATE_GO}, and fail when
 * it opens with anything else, when its holder died, or after `waitS` seconds (pure).
 */
export function gateWaitSh(path: string, waitS = GATE_WAIT_S): string {
  return `${gateReadSh(path, waitS)}; [ "$gate" = ${GATE_GO} ]`;
}

/** Our side of a gate: created closed; {@link open} lets the held command go (or not). */
export class RunGate {
  private constructor(readonly path: string, private file: Deno.FsFile | undefined) {}

  /** Creates the gate file at `path` (emptied) and holds it closed. */
  static async create(path: string): Promise<RunGate> {
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      await file.lock(true);
    } catch (err) {
      file.close();
      throw err;
    }
    return new RunGate(path, file);
  }

  /** Whether {@link open} has not been called yet. */
  get closed(): boolean {
    return this.file !== undefined;
  }

  /**
   * Opens the gate: the held command continues when `go`, fails otherwise. Idempotent (only the
   * first call decides).
   */
  async open(go: boolean): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    try {
      await file.write(new TextEncoder().encode(`${go ? GATE_GO : GATE_STOP}\n`));
    } finally {
      // Closing releases the lock: the held side reads what was written.
      file.close();
    }
  }
}
