/**
 * The controller as a service: a JSON HTTP API over a running {@link Controller} (routes in
 * `api_types.ts`), bound to 127.0.0.1, announcing its address in a file so the CLI and the
 * migration code can find it, and shutting down cleanly on SIGTERM/SIGINT.
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
}

/** A listening API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  hostname: string;
  port: number;
  addressFile?: string;
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

async function hostBody(req: Request): Promise<string> {
  const text = await req.text();
  if (text.length > MAX_BODY) throw new HttpError(413, "Request body is too large");
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

/** Routes one request to the controller. */
async function route(controller: Controller, req: Request, url: URL): Promise<Response> {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method;
  const only = (allowed: string) => {
    if (method !== allowed) {
      throw new HttpError(405, `${method} is not allowed on ${path}`, `use ${allowed}`);
    }
  };
  if (path.startsWith("/backends/")) {
    const name = decodeURIComponent(path.slice("/backends/".length));
    if (method === "PUT") {
      return json(200, await controller.migrateBackend(name, await hostBody(req)));
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
      if (method === "POST") return json(201, await controller.addBackend(await hostBody(req)));
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
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (err) => errorResponse(err),
  }, async (req) => {
    const t0 = performance.now();
    const url = new URL(req.url);
    let res: Response;
    try {
      res = await route(controller, req, url);
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
  const url = `http://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  if (addressFile) {
    const content: ControllerAddress = {
      url,
      pid: Deno.pid,
      lab: controller.lab.name,
      startedAt: new Date().toISOString(),
    };
    const tmp = `${addressFile}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(content, null, 2) + "\n");
    await Deno.rename(tmp, addressFile);
  }
  log(`controller of lab "${controller.lab.name}" listening on ${url}`);
  let shutting: Promise<void> | undefined;
  return {
    url,
    hostname: addr.hostname,
    port: addr.port,
    addressFile,
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
