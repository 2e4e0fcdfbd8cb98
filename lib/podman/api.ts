/**
 * Podman's REST API on a unix socket, for the one call a migration makes inside its frozen
 * window: restoring the prepared container. A `podman` command spends 40-100 ms starting (its
 * configuration, the state database, the storage, `conmon --version`) before it does anything;
 * a `podman system service` started before the freeze has done all that already, and the same
 * libpod code then restores the container, so Podman's own state stays what the CLI would leave.
 *
 * The service exits by itself after its idle time ({@link serviceArgv}), so one left behind by a
 * killed migration does not stay: the migration keeps it from timing out meanwhile by holding a
 * kept-alive connection ({@link holdService}), which dies with the migration's process. Its
 * socket is root's only: it sits in the migration's private directory.
 *
 * @module
 */

/** The API version in request paths (any Podman 4 or 5 answers it). */
export const API_VERSION = "v4.0.0";

/** Longest unix socket path the kernel takes (sun_path holds 108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 107;

/**
 * `podman system service` on `socket`, exiting after `idleS` seconds without a request, with
 * Podman's global `flags` (e.g. `--runtime-flag`, see lib/podman/criu_gate.ts).
 */
export function serviceArgv(socket: string, idleS: number, flags: string[] = []): string[] {
  if (!socket.startsWith("/")) throw new RangeError(`"${socket}" is not an absolute path`);
  if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
    throw new RangeError(`"${socket}" is longer than a unix socket path can be`);
  }
  return ["podman", ...flags, "system", "service", "--time", String(idleS), `unix://${socket}`];
}

/** The request path restoring a stopped container from the images in its own directory. */
export function restorePath(container: string): string {
  return `/${API_VERSION}/libpod/containers/${encodeURIComponent(container)}/restore` +
    "?tcpEstablished=true";
}

/** The request path that answers once the service is up. */
export const PING_PATH = `/${API_VERSION}/libpod/_ping`;

export interface ApiResponse {
  status: number;
  body: string;
}

/** The HTTP/1.0 request bytes (1.0: the answer is not chunked and ends with the connection). */
export function httpRequest(method: string, path: string): Uint8Array {
  return new TextEncoder().encode(`${method} ${path} HTTP/1.0\r\nHost: podman\r\n\r\n`);
}

/** Parses a whole HTTP response (status line, headers, body). */
export function parseHttpResponse(bytes: Uint8Array): ApiResponse {
  const text = new TextDecoder().decode(bytes);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (!status) throw new SyntaxError(`Not an HTTP response: "${text.slice(0, 60)}"`);
  const end = text.indexOf("\r\n\r\n");
  return { status: Number(status[1]), body: end < 0 ? "" : text.slice(end + 4) };
}

/**
 * Nothing took the connection: the service is gone (its idle time ran out) or never started, so
 * the request was not made and can be made another way.
 */
export class ServiceUnreachableError extends Error {
  override name = "ServiceUnreachableError";
}

/**
 * One request to the service on `socket`; the response once the service closes it. Throws
 * {@link ServiceUnreachableError} when it cannot connect.
 */
export async function apiRequest(
  socket: string,
  method: string,
  path: string,
): Promise<ApiResponse> {
  const conn = await Deno.connect({ transport: "unix", path: socket }).catch((err) => {
    throw new ServiceUnreachableError(
      `No Podman API service on ${socket}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  });
  try {
    const request = httpRequest(method, path);
    for (let sent = 0; sent < request.length;) sent += await conn.write(request.subarray(sent));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return parseHttpResponse(all);
  } finally {
    try {
      conn.close();
    } catch {
      // already closed by the peer
    }
  }
}

/** Polls (5 ms) until the service on `socket` answers its ping; false after `timeoutMs`. */
export async function waitForService(socket: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await apiRequest(socket, "GET", PING_PATH).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** An open connection that keeps the service from its idle exit until closed. */
export interface ServiceHold {
  close(): void;
}

/**
 * Pings the service over HTTP/1.1 and keeps the connection: Podman's idle timer stands still
 * while a kept-alive connection is open (its server closes one after twice the idle time).
 */
export async function holdService(socket: string): Promise<ServiceHold> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const close = () => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  try {
    const request = `GET ${PING_PATH} HTTP/1.1\r\nHost: podman\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    // The answer is small: its status line is enough to know the connection was taken.
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    if (!/^HTTP\/1\.[01] 200 /.test(head)) {
      throw new Error(`ping answered "${head.split("\r\n")[0]}"`);
    }
  } catch (err) {
    close();
    throw err;
  }
  return { close };
}
