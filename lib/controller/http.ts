/**
 * The controller as a service: a JSON HTTP API over a running {@link Controller} (routes in
 * `api_types.ts`), bound to 127.0.0.1, announcing its address in a file so the CLI and the
 * migration code can find it, and shutting down cleanly on SIGTERM/SIGINT.
 *
 * Only the lab's owner steers it: every request must carry the random bearer token written to
 * the owner-only address file (loopback alone would let any local user repoint the switch), a
 * `Host` naming the loopback address (DNS rebinding) and no `Origin` (a browser's cross-site
 * request); bodies must be JSON, and are read with a size cap and a deadline.
 *
 * ```ts
 * const service = await startControllerService(lab, { log: console.error });
 * await service.stopped; // until SIGTERM/SIGINT or service.stop()
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Lab } from "../lab/types.ts";
import { P4RuntimeError } from "../p4runtime/errors.ts";
import {
  type ControllerAddress,
  controllerAddressPath,
  type ErrorBody,
  type HostBody,
} from "./api_types.ts";
import { Controller, type ControllerOptions } from "./controller.ts";

export interface ApiServerOptions {
  /** Address to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 0: any free port; the address file and {@link ApiServer.url} say which). */
  port?: number;
  /**
   * Where to write the listening address (default `<lab.runDir>/controller.json`; null: nowhere).
   * Removed again on shutdown.
   */
  addressFile?: string | null;
  /** One line per request and per lifecycle event. */
  log?: (line: string) => void;
  /** Bearer token required on every request (default: 32 random bytes, hex). */
  token?: string;
  /** How long a request body may take to arrive (default 10 s). */
  bodyTimeoutMs?: number;
}

/** A listening API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  hostname: string;
  port: number;
  addressFile?: string;
  /** The bearer token requests must carry. */
  token: string;
  /** Stops accepting, waits for requests in flight, removes the address file. */
  shutdown(): Promise<void>;
  /** Resolves when the server has shut down. */
  finished: Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
  }
}

const JSON_HEADERS = { "content-type": "application/json" };
const MAX_BODY = 64 * 1024;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function errorResponse(err: unknown): Response {
  const body = (message: string, hint?: string): ErrorBody =>
    hint ? { error: message, hint } : {
      error: message,
    };
  if (err instanceof HttpError) return json(err.status, body(err.message, err.hint));
  // A switch failing is not the caller's fault, although P4RuntimeError is a UserError.
  if (err instanceof P4RuntimeError) return json(500, body(err.message, err.hint));
  if (err instanceof UserError) return json(400, body(err.message, err.hint));
  return json(500, body(err instanceof Error ? err.message : String(err)));
}

/** Reads a request body of at most {@link MAX_BODY} bytes, refusing more as it arrives. */
async function readBody(req: Request, timeoutMs: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY) throw new HttpError(413, "Request body is too large");
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY) {
        await reader.cancel().catch(() => {});
        throw new HttpError(413, "Request body is too large");
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(408, "Request body did not arrive in time");
  } finally {
    clearTimeout(timer);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

async function hostBody(req: Request, timeoutMs: number): Promise<string> {
  const text = await readBody(req, timeoutMs);
  let body: Partial<HostBody>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Request body is not JSON", 'send {"host": "<host name>"}');
  }
  if (typeof body?.host !== "string" || !body.host) {
    throw new HttpError(400, 'Request body needs a "host" string', 'send {"host": "<host name>"}');
  }
  return body.host;
}

/** Constant-time string comparison, so the token cannot be guessed byte by byte. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Refuses requests that are not the owner's: a foreign `Host` (DNS rebinding), any `Origin` (a
 * browser page), a missing or wrong token, a body that is not JSON.
 */
export function checkRequest(req: Request, port: number, token: string): void {
  const host = req.headers.get("host") ?? "";
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  if (!allowed.includes(host.toLowerCase())) {
    throw new HttpError(403, `Host "${host}" is not this controller`, `use ${allowed[0]}`);
  }
  if (req.headers.has("origin")) {
    throw new HttpError(403, "Cross-origin requests are refused", "call the API from the CLI");
  }
  const auth = req.headers.get("authorization") ?? "";
  if (!auth.startsWith("Bearer ") || !sameSecret(auth.slice(7), token)) {
    throw new HttpError(
      401,
      "Missing or wrong API token",
      'send "Authorization: Bearer <token>" with the token from the lab\'s controller.json ' +
        "(readable by its owner only)",
    );
  }
  if (
    (req.method === "POST" || req.method === "PUT") &&
    !/^application\/json\s*(;|$)/i.test(req.headers.get("content-type") ?? "")
  ) {
    throw new HttpError(415, "Request bodies must be JSON", "send Content-Type: application/json");
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Malformed path segment "${segment}"`, "percent-encode it correctly");
  }
}

/** Routes one request to the controller. */
async function route(
  controller: Controller,
  req: Request,
  url: URL,
  bodyTimeoutMs: number,
): Promise<Response> {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method;
  const only = (allowed: string) => {
    if (method !== allowed) {
      throw new HttpError(405, `${method} is not allowed on ${path}`, `use ${allowed}`);
    }
  };
  if (path.startsWith("/backends/")) {
    const name = decodeSegment(path.slice("/backends/".length));
    if (method === "PUT") {
      return json(200, await controller.migrateBackend(name, await hostBody(req, bodyTimeoutMs)));
    }
    if (method === "DELETE") return json(200, await controller.removeBackend(name));
    throw new HttpError(405, `${method} is not allowed on ${path}`, "use PUT or DELETE");
  }
  const switchName = url.searchParams.get("switch") ?? undefined;
  switch (path) {
    case "/health":
      only("GET");
      return json(200, controller.health());
    case "/backends":
      if (method === "POST") {
        return json(201, await controller.addBackend(await hostBody(req, bodyTimeoutMs)));
      }
      only("GET");
      return json(200, controller.listBackends());
    case "/entries":
      only("GET");
      return json(200, { entries: await controller.readEntries(switchName) });
    case "/verify":
      only("GET");
      return json(200, { switches: await controller.verify(switchName) });
    case "/counters":
      only("GET");
      return json(200, await controller.counters());
  }
  throw new HttpError(
    404,
    `No route ${method} ${path}`,
    "routes: GET /health, GET|POST /backends, PUT|DELETE /backends/{name}, GET /entries, " +
      "GET /verify, GET /counters",
  );
}

/** Serves the API of a started controller. */
export async function serveControllerApi(
  controller: Controller,
  options: ApiServerOptions = {},
): Promise<ApiServer> {
  const log = options.log ?? (() => {});
  const hostname = options.hostname ?? "127.0.0.1";
  const addressFile = options.addressFile === null ? undefined : options.addressFile ??
    (controller.lab.runDir ? controllerAddressPath(controller.lab.runDir) : undefined);
  const token = options.token ?? randomToken();
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const listening = Promise.withResolvers<Deno.NetAddr>();
  let port = 0;
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (err) => errorResponse(err),
  }, async (req) => {
    const t0 = performance.now();
    if (port === 0) port = (await listening.promise).port;
    const url = new URL(req.url);
    let res: Response;
    try {
      checkRequest(req, port, token);
      res = await route(controller, req, url, bodyTimeoutMs);
    } catch (err) {
      res = errorResponse(err);
    }
    log(
      `${req.method} ${url.pathname}${url.search} ${res.status} ${
        (performance.now() - t0).toFixed(2)
      } ms`,
    );
    return res;
  });
  const addr = await listening.promise;
  port = addr.port;
  const url = `http://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  if (addressFile) {
    const content: ControllerAddress = {
      url,
      token,
      pid: Deno.pid,
      lab: controller.lab.name,
      startedAt: new Date().toISOString(),
    };
    const tmp = `${addressFile}.${Deno.pid}.tmp`;
    // Owner-only: the token in it steers the switch.
    await Deno.writeTextFile(tmp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600 });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, addressFile);
  }
  log(`controller of lab "${controller.lab.name}" listening on ${url}`);
  let shutting: Promise<void> | undefined;
  return {
    url,
    hostname: addr.hostname,
    port: addr.port,
    addressFile,
    token,
    finished: server.finished,
    shutdown() {
      shutting ??= (async () => {
        await server.shutdown();
        if (addressFile) await removeIfOurs(addressFile);
      })();
      return shutting;
    },
  };
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Removes the address file unless another controller has written its own since. */
async function removeIfOurs(path: string): Promise<void> {
  try {
    const content = JSON.parse(await Deno.readTextFile(path)) as ControllerAddress;
    if (content.pid === Deno.pid) await Deno.remove(path);
  } catch {
    // Gone or unreadable: nothing of ours to remove.
  }
}

export interface ServiceOptions extends ControllerOptions, ApiServerOptions {
  /** Stop on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

/** A running controller with its API. */
export interface ControllerService {
  controller: Controller;
  api: ApiServer;
  /** Shuts the API down, then closes the switch sessions. */
  stop(): Promise<void>;
  /** Resolves once stopped (by {@link stop} or a signal). */
  stopped: Promise<void>;
}

/**
 * Starts the controller of a lab and serves its API until SIGTERM/SIGINT or `stop()`. If the API
 * cannot start, the switch sessions are closed again.
 */
export async function startControllerService(
  lab: Lab,
  options: ServiceOptions = {},
): Promise<ControllerService> {
  const controller = new Controller(lab, options);
  await controller.start();
  let api: ApiServer;
  try {
    api = await serveControllerApi(controller, options);
  } catch (err) {
    controller.close();
    throw err;
  }
  const signals: Deno.Signal[] = options.handleSignals === false ? [] : ["SIGTERM", "SIGINT"];
  const stopped = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      try {
        await api.shutdown();
      } finally {
        controller.close();
        options.log?.(`controller of lab "${lab.name}" stopped`);
        stopped.resolve();
      }
    })();
    return stopping;
  };
  const onSignal = () => void stop();
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return { controller, api, stop, stopped: stopped.promise };
}
