/**
 * How a checkpoint crosses the underlay between two machines (pure argv builders; the driver in
 * lib/migrate/machine_driver.ts runs them):
 *
 * - memory: CRIU's page server. Stop-and-copy: `criu page-server` listens on the target
 *   machine's underlay address and the dump sends every page to it. Post-copy (`--lazy`): the
 *   dump keeps the pages and serves them; the target's `criu lazy-pages` pulls them on demand
 *   and pushes the rest in the background. The dump's end of the connection is made in the
 *   source machine's namespace by `p4cf-socket-exec` (CRIU itself runs in the host's namespace,
 *   which has no route to the underlay), the lazy-pages daemon's in the target's.
 * - the other image files: a tar stream from the source machine to our receiver
 *   (`image_receiver.ts`) on the target machine.
 *
 * Every command runs in its machine's namespace (the root machine's is this one).
 *
 * @module
 */
import type { Machine } from "../lab/types.ts";
import { inNetns } from "../shell.ts";
import { socketExecArgv, type SocketExecOptions } from "./socket_exec.ts";

/** Port of the page server (or lazy-pages connection) on the target's underlay address. */
export const PAGE_SERVER_PORT = 27010;

/** Port of the image receiver on the target's underlay address. */
export const IMAGE_RECEIVER_PORT = 27011;

/** Log files in the target machine's images directory. */
export const PAGE_SERVER_LOG = "page-server.log";
export const LAZY_PAGES_LOG = "lazy-pages.log";

/** The one end of a transfer. */
export interface TransferEnd {
  machine: Pick<Machine, "name" | "netns" | "underlayIp">;
  /** The machine's images directory for this migration. */
  dir: string;
}

/** `criu page-server` on the target, listening on its underlay address (stop-and-copy). */
export function pageServerArgv(criu: string, target: TransferEnd): string[] {
  return inNetns(target.machine.netns, [
    criu,
    "page-server",
    "-D",
    target.dir,
    "--address",
    target.machine.underlayIp,
    "--port",
    String(PAGE_SERVER_PORT),
    "-v4",
    "-o",
    PAGE_SERVER_LOG,
  ]);
}

/**
 * `criu lazy-pages` on the target (post-copy): takes the source's connection on its underlay
 * address right away, and starts once `startFile` exists (the images have arrived and been
 * rewritten), so the dump can begin serving before the daemon can read the images.
 */
export function lazyPagesArgv(
  criu: string,
  helper: string,
  target: TransferEnd,
  startFile: string,
  timeoutMs: number,
): string[] {
  const socket: SocketExecOptions = {
    binary: helper,
    mode: "listen",
    address: target.machine.underlayIp,
    port: PAGE_SERVER_PORT,
    timeoutMs,
    afterFile: startFile,
  };
  return inNetns(
    target.machine.netns,
    socketExecArgv(socket, [
      criu,
      "lazy-pages",
      "--page-server",
      "--ps-socket",
      "3",
      "-D",
      target.dir,
      "-v4",
      "-o",
      LAZY_PAGES_LOG,
    ]),
  );
}

/**
 * Wraps the dump's argv (CRIU in the host's namespace, `--ps-socket 3`) so its page server
 * connection to the target is made in the source machine's namespace.
 */
export function dumpThroughUnderlayArgv(
  helper: string,
  source: TransferEnd,
  target: TransferEnd,
  dumpArgv: readonly string[],
  timeoutMs: number,
): string[] {
  const socket: SocketExecOptions = {
    binary: helper,
    mode: "connect",
    address: target.machine.underlayIp,
    port: PAGE_SERVER_PORT,
    timeoutMs,
  };
  return inNetns(source.machine.netns, socketExecArgv(socket, dumpArgv));
}

/** Our image receiver on the target (see image_receiver.ts). */
export function receiverArgv(
  deno: string,
  target: TransferEnd,
  from: TransferEnd,
  timeoutMs: number,
): string[] {
  const script = new URL("./image_receiver.ts", import.meta.url).pathname;
  const addr = `${target.machine.underlayIp}:${IMAGE_RECEIVER_PORT}`;
  return inNetns(target.machine.netns, [
    deno,
    "run",
    "--no-prompt",
    `--allow-net=${addr}`,
    `--allow-read=${target.dir}`,
    `--allow-write=${target.dir}`,
    script,
    target.machine.underlayIp,
    String(IMAGE_RECEIVER_PORT),
    target.dir,
    from.machine.underlayIp,
    String(timeoutMs),
  ]);
}

/**
 * The sender on the source machine: `tar` of the images directory (the files `only` names, or
 * all of them) into the connection to the receiver.
 */
export function senderArgv(
  helper: string,
  source: TransferEnd,
  target: TransferEnd,
  timeoutMs: number,
  only?: readonly string[],
): string[] {
  const socket: SocketExecOptions = {
    binary: helper,
    mode: "connect",
    address: target.machine.underlayIp,
    port: IMAGE_RECEIVER_PORT,
    timeoutMs,
  };
  const files = only?.length ? only : ["."];
  return inNetns(
    source.machine.netns,
    socketExecArgv(socket, [
      "sh",
      "-c",
      'cd "$1" && shift && exec tar -cf - "$@" >&3',
      "sh",
      source.dir,
      ...files,
    ]),
  );
}
