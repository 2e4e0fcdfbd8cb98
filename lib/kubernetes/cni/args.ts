/**
 * The CNI protocol's input, parsed: the runtime (CRI-O) describes each call in environment
 * variables (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`,
 * `CNI_PATH`) and the network configuration on stdin. Parsing is kept apart from everything that
 * touches the machine so that every malformed call is answered with the right CNI error code, and
 * tested without root.
 *
 * @module
 */
import { UserError } from "../../errors.ts";

/** CNI spec versions this plugin speaks (its result format is the same for both). */
export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0"] as const;

/**
 * Error codes: 1-99 are the CNI spec's well-known ones, 100 and up are this plugin's own. None
 * of ours is 11 ("try again later"): a full slot pool does not free itself, someone must act.
 */
export const CNI_CODES = {
  incompatibleVersion: 1,
  /** CHECK for a container that holds no slot. */
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  /** Every slot of the pod's workload is taken. */
  noFreeSlot: 100,
  /** The pod's name matches no workload of the lab and it has no reservation. */
  noWorkload: 101,
  /** The pod's reservation names no slot, or a slot another pod holds. */
  badReservation: 102,
  /** The slot's interface is not where it should be (lab not up, or moved by hand). */
  slotMissing: 103,
  /** CHECK found the pod's interface misconfigured. */
  checkFailed: 104,
  /** A command moving or configuring the interface failed. */
  commandFailed: 105,
} as const;

/**
 * A CNI error: printed on stdout as `{ cniVersion, code, msg, details }` with exit status 1.
 * `details` says what to do about it (it is also the {@link UserError} hint).
 */
export class CniError extends UserError {
  override name = "CniError";
  constructor(
    readonly code: number,
    msg: string,
    readonly details = "",
    options: { cause?: unknown } = {},
  ) {
    super(msg, { hint: details || undefined, cause: options.cause });
  }

  /** The error object the CNI spec prescribes. */
  toResult(cniVersion: string): { cniVersion: string; code: number; msg: string; details: string } {
    return { cniVersion, code: this.code, msg: this.message, details: this.details };
  }
}

/** The network configuration this plugin reads from stdin (other fields are ignored). */
export interface NetConf {
  cniVersion: string;
  /** Network name, `p4cf-<lab id>`. */
  name: string;
  /** Plugin type, `p4cf`. */
  type: string;
  /** Absolute path of the lab file. */
  labFile: string;
  /** Parent of the lab's run directory. */
  runRoot: string;
}

/** A pod as the kubelet names it in `CNI_ARGS`. */
export interface PodRef {
  name: string;
  namespace: string;
}

/** ADD, DEL or CHECK: a call about one container's network. */
export interface CniRequest {
  command: "ADD" | "DEL" | "CHECK";
  containerId: string;
  /** The pod's network namespace path; may be empty on DEL (the namespace is gone). */
  netns: string;
  /** Interface name the runtime wants inside the pod. */
  ifname: string;
  /** `CNI_ARGS` as key/value pairs. */
  args: Record<string, string>;
  /** The pod, when the kubelet passed `K8S_POD_NAME` (always for ADD). */
  pod?: PodRef;
  /** `CNI_PATH`, split. */
  path: string[];
  config: NetConf;
}

/** VERSION: only the version the runtime speaks. */
export interface VersionRequest {
  command: "VERSION";
  cniVersion: string;
}

export type CniInvocation = CniRequest | VersionRequest;

/** The version to answer in when the input cannot tell (unparsable config). */
export const FALLBACK_VERSION = "1.0.0";

/**
 * Parses `CNI_ARGS` (`IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=y`): `;`-separated
 * `KEY=VALUE` pairs, the value being everything after the first `=`.
 *
 * @throws {CniError} code 4 for a pair without `=` or with an empty key.
 */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new CniError(
        CNI_CODES.invalidEnvironment,
        `CNI_ARGS has an invalid pair ${JSON.stringify(pair)}`,
        "CNI_ARGS must be KEY=VALUE pairs separated by ';'",
      );
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function decode(stdin: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(
      CNI_CODES.decodeFailure,
      `The network configuration on stdin is not JSON: ${(err as Error).message}`,
      "the runtime passes the network list's plugin entry; check the .conflist file",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CniError(
      CNI_CODES.decodeFailure,
      "The network configuration on stdin is not a JSON object",
      "check the .conflist file",
    );
  }
  return value as Record<string, unknown>;
}

/** The `cniVersion` of a stdin config, or the fallback when it cannot be read (for errors). */
export function versionOf(stdin: string): string {
  try {
    const v = JSON.parse(stdin)?.cniVersion;
    return typeof v === "string" && v ? v : FALLBACK_VERSION;
  } catch {
    return FALLBACK_VERSION;
  }
}

function checkVersion(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CNI_CODES.incompatibleVersion,
      `CNI version ${version} is not supported by the p4cf plugin`,
      `use cniVersion ${SUPPORTED_VERSIONS.join(" or ")} in the .conflist`,
    );
  }
}

/**
 * Parses and checks the network configuration: the version and the two fields the plugin needs
 * (`labFile`, `runRoot`, both absolute).
 *
 * @throws {CniError} code 6 (not JSON), 1 (version), 7 (missing or relative field).
 */
export function parseNetConf(stdin: string): NetConf {
  const raw = decode(stdin);
  const str = (key: string): string => {
    const v = raw[key];
    return typeof v === "string" ? v : "";
  };
  const cniVersion = str("cniVersion");
  if (!cniVersion) {
    throw new CniError(
      CNI_CODES.invalidConfig,
      "The network configuration has no cniVersion",
      `add "cniVersion": "1.0.0" to the .conflist`,
    );
  }
  checkVersion(cniVersion);
  for (const key of ["labFile", "runRoot"]) {
    if (!str(key).startsWith("/")) {
      throw new CniError(
        CNI_CODES.invalidConfig,
        `The network configuration ${str("name") || "(unnamed)"} has no absolute "${key}"`,
        "re-create the .conflist with installCniPlugin (lib/kubernetes/cni/install.ts)",
      );
    }
  }
  return {
    cniVersion,
    name: str("name"),
    type: str("type"),
    labFile: str("labFile"),
    runRoot: str("runRoot"),
  };
}

/** Linux interface names: 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..`. */
export function isValidIfname(name: string): boolean {
  return /^[^/:\s]{1,15}$/.test(name) && name !== "." && name !== "..";
}

function required(env: Record<string, string | undefined>, key: string): string {
  const v = env[key] ?? "";
  if (!v) {
    throw new CniError(
      CNI_CODES.invalidEnvironment,
      `${key} is not set`,
      "the p4cf plugin is run by the container runtime (CRI-O), which sets the CNI_* variables",
    );
  }
  return v;
}

/**
 * Parses one plugin call from its environment and stdin.
 *
 * ```ts
 * const req = parseInvocation(Deno.env.toObject(), stdinText);
 * if (req.command === "ADD") console.log(req.pod?.name, req.netns);
 * ```
 *
 * @throws {CniError} code 4 for missing or invalid variables (CNI_NETNS may be empty on DEL
 * only; ADD needs K8S_POD_NAME), and the codes of {@link parseNetConf}.
 */
export function parseInvocation(
  env: Record<string, string | undefined>,
  stdin: string,
): CniInvocation {
  const command = required(env, "CNI_COMMAND");
  if (command === "VERSION") {
    const cniVersion = stdin.trim() ? versionOf(stdin) : FALLBACK_VERSION;
    return { command, cniVersion };
  }
  if (command !== "ADD" && command !== "DEL" && command !== "CHECK") {
    throw new CniError(
      CNI_CODES.invalidEnvironment,
      `CNI_COMMAND ${command} is not supported by the p4cf plugin`,
      "it implements ADD, DEL, CHECK and VERSION (CNI 1.0.0)",
    );
  }
  const config = parseNetConf(stdin);
  const containerId = required(env, "CNI_CONTAINERID");
  const netns = command === "DEL" ? env.CNI_NETNS ?? "" : required(env, "CNI_NETNS");
  const ifname = required(env, "CNI_IFNAME");
  if (!isValidIfname(ifname)) {
    throw new CniError(
      CNI_CODES.invalidEnvironment,
      `CNI_IFNAME ${JSON.stringify(ifname)} is not a valid interface name`,
      "use 1-15 characters without '/', ':' or spaces (usually eth0)",
    );
  }
  const args = parseCniArgs(env.CNI_ARGS ?? "");
  const pod = args.K8S_POD_NAME
    ? { name: args.K8S_POD_NAME, namespace: args.K8S_POD_NAMESPACE ?? "" }
    : undefined;
  if (command === "ADD" && !pod) {
    throw new CniError(
      CNI_CODES.invalidEnvironment,
      "CNI_ARGS has no K8S_POD_NAME",
      "the p4cf plugin gives slots to Kubernetes pods by name: it must be run by the kubelet's runtime",
    );
  }
  const path = (env.CNI_PATH ?? "").split(":").filter((p) => p !== "");
  return { command, containerId, netns, ifname, args, pod, path, config };
}
