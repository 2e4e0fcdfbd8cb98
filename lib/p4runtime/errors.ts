/**
 * Typed errors of the P4Runtime client. All are {@link UserError}s: each has a hint saying what to
 * check (the switch process, another controller, the entries written).
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { codeName } from "./messages.ts";
import type { Update } from "./messages.ts";

/** Any failed P4Runtime RPC; `code` is the gRPC status code. */
export class P4RuntimeError extends UserError {
  override name = "P4RuntimeError";
  constructor(
    message: string,
    readonly code: number,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** The switch did not answer at `address` within the connect timeout. */
export class SwitchUnreachableError extends P4RuntimeError {
  override name = "SwitchUnreachableError";
  constructor(
    readonly address: string,
    waitedMs: number,
    options: { switchLog?: string; cause?: unknown } = {},
  ) {
    super(`P4Runtime switch at ${address} is unreachable (waited ${waitedMs} ms)`, 14, {
      hint: `is simple_switch_grpc running on ${address}? ` +
        (options.switchLog
          ? `see the switch log at ${options.switchLog}`
          : "see the switch log (the lab's run directory)"),
      cause: options.cause,
    });
  }
}

/** Arbitration failed, or another controller is primary when we need to be. */
export class ArbitrationError extends P4RuntimeError {
  override name = "ArbitrationError";
  constructor(
    message: string,
    code: number,
    /** The highest election id the switch has seen (the primary's), when it told us. */
    readonly primaryElectionId?: bigint,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, code, options);
  }
}

/** The status of one failed update in a Write. */
export interface UpdateFailure {
  /** Index of the update in the list given to `write` (not in the batch). */
  index: number;
  /** google.rpc.Code of the failure. */
  code: number;
  /** The code's name ("ALREADY_EXISTS"). */
  codeName: string;
  message: string;
  /** The update that failed. */
  update?: Update;
  /** Name of the table the update was for, when known. */
  table?: string;
}

/** Some updates of a Write were rejected; `failures` says which and why. */
export class P4RuntimeWriteError extends P4RuntimeError {
  override name = "P4RuntimeWriteError";
  constructor(
    readonly failures: readonly UpdateFailure[],
    /** Number of updates in the whole write. */
    readonly total: number,
    code: number,
    rpcMessage = "",
  ) {
    const shown = failures.slice(0, 3).map((f) =>
      `#${f.index} ${f.codeName}${f.table ? ` in ${f.table}` : ""}${
        f.message ? `: ${f.message}` : ""
      }`
    );
    const more = failures.length > 3 ? `; and ${failures.length - 3} more` : "";
    const detail = failures.length ? shown.join("; ") + more : rpcMessage || codeName(code);
    super(
      `P4Runtime write failed for ${failures.length || "?"} of ${total} updates: ${detail}`,
      code,
      {
        hint: "ALREADY_EXISTS: the entry is there (use MODIFY); NOT_FOUND: no such entry or id " +
          "(is the pipeline pushed and the P4Info current?); INVALID_ARGUMENT: a value or field " +
          "does not match the P4Info",
      },
    );
  }
}
