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
 * Errors: `{error, hint?}` with 400 for bad input, 404 for unknown routes, 500 for anything else
 * (a switch that rejects a write included).
 *
 * @module
 */
export type {
  BackendInfo,
  BackendList,
  ChangeResult,
  ControllerHealth,
  LbCounters,
  SwitchHealth,
  SwitchVerification,
} from "./controller.ts";
export type { EntryView } from "./switch_entries.ts";

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
  pid: number;
  lab: string;
  startedAt: string;
}

/** Default location of the address file in a lab's run directory. */
export function controllerAddressPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/controller.json`;
}
