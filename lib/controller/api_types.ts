/**
 * The controller's HTTP API: routes, bodies and the address file, shared by the server
 * (`http.ts`) and the client (`api_client.ts`).
 *
 * | route                        | body       | answer                                   |
 * | ---------------------------- | ---------- | ---------------------------------------- |
 * | `GET /health`                |            | {@link ControllerHealth}                 |
 * | `GET /backends`              |            | {@link BackendList}                      |
 * | `POST /backends`             | `{host}`   | {@link ChangeResult} (201)               |
 * | `PUT /backends/{name or id}` | `{host}`   | {@link ChangeResult} (migrate)           |
 * | `DELETE /backends/{name/id}` |            | {@link ChangeResult}                     |
 * | `GET /entries?switch=s1`     |            | `{entries}`: {@link EntryView}[]         |
 * | `GET /verify?switch=s1`      |            | `{switches}`: {@link SwitchVerification}[] |
 * | `GET /counters`              |            | {@link LbCounters}                       |
 *
 * Every request carries `Authorization: Bearer <token>` (the token is in the address file),
 * `Host: 127.0.0.1:<port>` and no `Origin`; bodies are `application/json` of at most 64 KB.
 *
 * Errors: `{error, hint?}` with 400 for bad input, 401 without the token, 403 for a foreign
 * `Host` or any `Origin`, 404 for unknown routes, 413/415 for oversized or non-JSON bodies, 500
 * for anything else (a switch that rejects a write included).
 *
 * @module
 */
import type { DROP_REASONS, FLOW_EVENTS } from "../p4/lb_program.ts";
import type { EntryView } from "./switch_entries.ts";

export type { EntryView };

/** A backend as the API shows it. */
export interface BackendInfo {
  id: number;
  host: string;
  ip: string;
  /** Slots pointing at it (its share of new connections). */
  slots: number;
}

export interface BackendList {
  switch: string;
  vip: string;
  servicePort: number;
  slotCount: number;
  backends: BackendInfo[];
}

/** What a backend change did. */
export interface ChangeResult {
  action: "add" | "remove" | "migrate";
  /** The backend after the change (for remove: the one removed). */
  backend: BackendInfo;
  /** Where a migrated backend was before. */
  from?: { host: string; ip: string };
  /** P4Runtime updates written. */
  updates: number;
  /** Time spent in the switch Write RPC(s), ms. */
  writeMs: number;
  /** Planning + writing + saving the state, ms. */
  totalMs: number;
}

export interface SwitchHealth {
  name: string;
  address: string;
  deviceId: number;
  connected: boolean;
  /** The switch considers us the primary controller. */
  primary: boolean;
  /** pushed: we pushed the pipeline; kept: it already ran this build. */
  pipeline: "pushed" | "kept" | "none";
  /** Entries the switch holds according to the plan. */
  entries: number;
  /** Updates written since start (programming included). */
  updatesWritten: number;
  writeRpcs: number;
  /** False after a failed write whose effect is unknown (restart the controller to reconcile). */
  inSync: boolean;
  lastError?: string;
}

export interface ControllerHealth {
  lab: string;
  /** Every switch connected, primary and in sync. */
  ok: boolean;
  startedAt?: string;
  stateFile?: string;
  loadBalancer: { switch: string; vip: string; servicePort: number; backends: number };
  switches: SwitchHealth[];
}

/** How one switch's entries compare with the plan. */
export interface SwitchVerification {
  switch: string;
  inSync: boolean;
  missing: EntryView[];
  unexpected: EntryView[];
  different: { actual: EntryView; planned: EntryView }[];
}

/** The load balancer's counters on its switch. */
export interface LbCounters {
  switch: string;
  /** Dropped packets by reason. */
  drops: Record<keyof typeof DROP_REASONS, number>;
  /** Connection-memory events (packets). */
  flowEvents: Record<keyof typeof FLOW_EVENTS, number>;
  /** Packets and bytes sent to each current backend. */
  backends: { id: number; host: string; packets: number; bytes: number }[];
}

/** Body of `POST /backends` and `PUT /backends/{name}`. */
export interface HostBody {
  host: string;
}

/** Body of every error answer. */
export interface ErrorBody {
  error: string;
  hint?: string;
}

/** What the address file holds: where a running controller listens. */
export interface ControllerAddress {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Bearer token every request must carry (the file is readable by its owner only). */
  token: string;
  pid: number;
  lab: string;
  startedAt: string;
}

/** Default location of the address file in a lab's run directory. */
export function controllerAddressPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/controller.json`;
}
