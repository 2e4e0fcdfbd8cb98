/**
 * A typed client for the controller's HTTP API (see `api_types.ts`), for the CLI and the
 * migration code. Finds a lab's controller through its address file; says clearly when no
 * controller is running.
 *
 * ```ts
 * const api = await ControllerApi.forLab(lab);
 * const moved = await api.migrateBackend("h2", "h3");
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Lab } from "../lab/types.ts";
import {
  type BackendList,
  type ChangeResult,
  type ControllerAddress,
  controllerAddressPath,
  type ControllerHealth,
  type EntryView,
  type ErrorBody,
  type LbCounters,
  type SwitchVerification,
} from "./api_types.ts";

/** The controller answered with an error; `status` is the HTTP status. */
export class ControllerApiError extends UserError {
  override name = "ControllerApiError";
  constructor(readonly status: number, message: string, hint?: string) {
    super(message, { hint });
  }
}

export interface ControllerApiOptions {
  /** Lab name, for messages. */
  lab?: string;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** The API token (from the address file). */
  token?: string;
}

function notRunning(lab: string | undefined, detail: string): UserError {
  const name = lab ?? "<lab>";
  return new UserError(
    `The controller${lab ? ` of lab "${lab}"` : ""} is not running (${detail})`,
    { hint: `start the lab with \`deno task lab up ${name}\`` },
  );
}

/** Client of one controller's API. */
export class ControllerApi {
  readonly url: string;
  readonly #lab?: string;
  readonly #timeoutMs: number;
  readonly #token?: string;

  constructor(url: string, options: ControllerApiOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#lab = options.lab;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#token = options.token;
  }

  /** The API of the lab's running controller, found through `<runDir>/controller.json`. */
  static async forLab(
    lab: Pick<Lab, "name" | "runDir">,
    options: Omit<ControllerApiOptions, "lab"> & { addressFile?: string } = {},
  ): Promise<ControllerApi> {
    const file = options.addressFile ??
      (lab.runDir ? controllerAddressPath(lab.runDir) : undefined);
    if (!file) throw notRunning(lab.name, "the lab has no run directory");
    let address: ControllerAddress;
    try {
      address = JSON.parse(await Deno.readTextFile(file));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw notRunning(lab.name, `no ${file}`);
      throw notRunning(lab.name, `${file} is unreadable: ${(err as Error).message}`);
    }
    if (typeof address?.url !== "string") {
      throw notRunning(lab.name, `${file} has no url`);
    }
    return new ControllerApi(address.url, { ...options, lab: lab.name, token: address.token });
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      const headers: Record<string, string> = {};
      if (this.#token) headers.authorization = `Bearer ${this.#token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === "TimeoutError") {
        throw new UserError(
          `The controller at ${this.url} did not answer ${method} ${path} within ` +
            `${this.#timeoutMs} ms`,
          { hint: "see the controller's log in the lab's run directory" },
        );
      }
      throw notRunning(this.#lab, `nothing answers at ${this.url}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ControllerApiError(
        res.status,
        `The controller at ${this.url} sent a non-JSON answer to ${method} ${path} ` +
          `(HTTP ${res.status})`,
        "is something else listening on that port?",
      );
    }
    if (!res.ok) {
      const e = parsed as Partial<ErrorBody> | undefined;
      throw new ControllerApiError(
        res.status,
        e?.error ?? `${method} ${path} failed with HTTP ${res.status}`,
        e?.hint,
      );
    }
    return parsed as T;
  }

  /** Per switch: connected, primary, pipeline, entries. */
  health(): Promise<ControllerHealth> {
    return this.#call("GET", "/health");
  }

  backends(): Promise<BackendList> {
    return this.#call("GET", "/backends");
  }

  /** Adds a backend on a host of the lab. */
  addBackend(host: string): Promise<ChangeResult> {
    return this.#call("POST", "/backends", { host });
  }

  /** Points a backend (host name or id) at another host. */
  migrateBackend(backend: string | number, toHost: string): Promise<ChangeResult> {
    return this.#call("PUT", `/backends/${encodeURIComponent(String(backend))}`, { host: toHost });
  }

  removeBackend(backend: string | number): Promise<ChangeResult> {
    return this.#call("DELETE", `/backends/${encodeURIComponent(String(backend))}`);
  }

  /** Entries read back from one switch, or from all. */
  async entries(switchName?: string): Promise<EntryView[]> {
    const q = switchName === undefined ? "" : `?switch=${encodeURIComponent(switchName)}`;
    return (await this.#call<{ entries: EntryView[] }>("GET", `/entries${q}`)).entries;
  }

  /** Switch entries compared with the controller's plan. */
  async verify(switchName?: string): Promise<SwitchVerification[]> {
    const q = switchName === undefined ? "" : `?switch=${encodeURIComponent(switchName)}`;
    return (await this.#call<{ switches: SwitchVerification[] }>("GET", `/verify${q}`)).switches;
  }

  counters(): Promise<LbCounters> {
    return this.#call("GET", "/counters");
  }
}
