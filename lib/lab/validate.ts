/**
 * Structural checks of a parsed lab file: known keys (with "did you mean"), types, value formats,
 * safe names. Produces the typed {@link LabFile} and every problem found; semantic checks that
 * need the whole lab (duplicates, dangling references) are in `resolve.ts`.
 *
 * @module
 */
import { parseCidr, parseIpv4, parseMac } from "../net/addr.ts";
import {
  type AddrField,
  COMMAND_PLACEHOLDERS,
  type Endpoint,
  HOST_KINDS,
  type HostEntry,
  LAB_KEYS,
  LAB_RUNTIMES,
  type LabFile,
  type LabSection,
  type LinkEntry,
  type LoadBalancerEntry,
  type MachineEntry,
  MAX_QUEUE_DEPTH,
  PORT_MAX,
  PORT_MIN,
  SWITCH_KINDS,
  type SwitchEntry,
  WORKLOAD_KINDS,
  WORKLOAD_ROLES,
  type WorkloadEntry,
} from "./format.ts";
import type { FieldPath, LabIssue } from "./issues.ts";
import { IFACE_PATTERN, LAB_ID_MAX, LAB_ID_PATTERN, NAME_PATTERN } from "./naming.ts";
import { suggestionHint } from "./suggest.ts";
import {
  DELAY_MAX_MS,
  parseDelay,
  parseRate,
  RATE_MAX_BIT_S,
  RATE_MIN_BIT_S,
} from "../machines/units.ts";

/** Longest lab, host, switch or workload name. */
export const NAME_MAX = 32;

type Obj = Record<string, unknown>;

/** Collects issues; each check records and returns undefined instead of throwing. */
export class IssueList {
  readonly items: LabIssue[] = [];
  add(path: FieldPath, message: string, hint?: string): undefined {
    this.items.push({ path: [...path], message, ...(hint ? { hint } : {}) });
    return undefined;
  }
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

/** Reports keys of `obj` that `section` does not accept. */
function checkKeys(issues: IssueList, obj: Obj, section: LabSection, path: FieldPath): void {
  const known: readonly string[] = LAB_KEYS[section];
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      issues.add([...path, key], "is not a known key", suggestionHint(key, known, "known keys"));
    }
  }
}

function mapping(
  issues: IssueList,
  value: unknown,
  path: FieldPath,
  nullOk = false,
): Obj | undefined {
  if (isObj(value)) return value;
  if (nullOk && (value === null || value === undefined)) return {};
  return issues.add(path, `must be a mapping, not ${typeName(value)}`);
}

function str(issues: IssueList, obj: Obj, key: string, path: FieldPath): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return issues.add([...path, key], `must be a string, not ${typeName(value)}`);
}

function int(
  issues: IssueList,
  obj: Obj,
  key: string,
  path: FieldPath,
  min: number,
  max: number,
): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    return issues.add([...path, key], `${show(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(
  issues: IssueList,
  obj: Obj,
  key: string,
  path: FieldPath,
  allowed: readonly T[],
): T | undefined {
  const value = str(issues, obj, key, path);
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  return issues.add(
    [...path, key],
    `${show(value)} is not one of ${allowed.join(", ")}`,
    suggestionHint(value, allowed, "allowed values"),
  );
}

function required(
  issues: IssueList,
  obj: Obj,
  key: string,
  path: FieldPath,
  what: string,
): boolean {
  if (obj[key] === undefined || obj[key] === null) {
    issues.add([...path, key], `is missing`, `add ${what}`);
    return false;
  }
  return true;
}

function ipv4(issues: IssueList, obj: Obj, key: string, path: FieldPath): AddrField | undefined {
  const text = str(issues, obj, key, path);
  if (text === undefined) return undefined;
  const addr = parseIpv4(text);
  if (addr === undefined) {
    return issues.add(
      [...path, key],
      `${show(text)} is not an IPv4 address`,
      "write it like 10.0.1.1",
    );
  }
  const unusable = unusableAddress(addr);
  if (unusable) {
    return issues.add([...path, key], `${show(text)} is ${unusable}`, USABLE_HINT);
  }
  return { text, addr };
}

const USABLE_HINT = "use a unicast address such as 10.0.1.1 (private ranges suit labs best)";

/**
 * Why an IPv4 address cannot be a lab host, gateway or VIP (it would never cross the switch, or
 * reach the machine's own services), or undefined when it can.
 */
export function unusableAddress(addr: number): string | undefined {
  const first = addr >>> 24;
  if (first === 0) return "in 0.0.0.0/8 (this network)";
  if (first === 127) return "a loopback address (it would reach this machine, not the lab)";
  if (first >= 224 && first < 240) return "a multicast address";
  if (addr >>> 0 === 0xffffffff) return "the broadcast address";
  if (first >= 240) return "in the reserved range 240.0.0.0/4";
  return undefined;
}

/** Checks a lab, host, switch or workload name; returns whether it is usable. */
export function checkName(issues: IssueList, name: string, path: FieldPath, what: string): boolean {
  if (!NAME_PATTERN.test(name) || name.length > NAME_MAX) {
    issues.add(
      path,
      `${show(name)} cannot become a Linux object name (${what} name)`,
      `use lower-case letters, digits and single dashes, starting with a letter, at most ${NAME_MAX} characters`,
    );
    return false;
  }
  return true;
}

/** Iterates a mapping section whose keys are names (hosts, switches, workloads). */
function namedEntries(
  issues: IssueList,
  root: Obj,
  key: string,
  what: string,
  isRequired: boolean,
): [string, unknown][] {
  const value = root[key];
  if (value === undefined || value === null) {
    if (isRequired) issues.add([key], "is missing", `add at least one ${what}`);
    return [];
  }
  const obj = mapping(issues, value, [key]);
  if (!obj) return [];
  const entries = Object.entries(obj);
  if (isRequired && entries.length === 0) issues.add([key], "is empty", `add at least one ${what}`);
  return entries.filter(([name]) => checkName(issues, name, [key, name], what));
}

function readHost(issues: IssueList, name: string, value: unknown): HostEntry | undefined {
  const path = ["hosts", name];
  const obj = mapping(issues, value, path);
  if (!obj) return undefined;
  checkKeys(issues, obj, "host", path);
  const host: HostEntry = { name };
  host.kind = oneOf(issues, obj, "kind", path, HOST_KINDS);
  if (required(issues, obj, "ip", path, "the host's address, e.g. ip: 10.0.1.1/24")) {
    const text = str(issues, obj, "ip", path);
    if (text !== undefined) {
      const cidr = text.includes("/") ? parseCidr(text) : undefined;
      const bare = text.includes("/") ? undefined : parseIpv4(text);
      if (cidr && (cidr.prefix < 8 || cidr.prefix > 30)) {
        issues.add(
          [...path, "ip"],
          `${show(text)} has prefix /${cidr.prefix}`,
          "use a prefix from /8 to /30",
        );
      } else if ((cidr?.addr ?? bare) !== undefined && unusableAddress((cidr?.addr ?? bare)!)) {
        issues.add(
          [...path, "ip"],
          `${show(text)} is ${unusableAddress((cidr?.addr ?? bare)!)}`,
          USABLE_HINT,
        );
      } else if (cidr) host.ip = { text, addr: cidr.addr, prefix: cidr.prefix };
      else if (bare !== undefined) host.ip = { text, addr: bare, prefix: 24 };
      else {
        issues.add(
          [...path, "ip"],
          `${show(text)} is not an IPv4 address`,
          "write it like 10.0.1.1/24",
        );
      }
    }
  }
  const mac = str(issues, obj, "mac", path);
  if (mac !== undefined) {
    const bytes = parseMac(mac);
    if (!bytes) {
      issues.add(
        [...path, "mac"],
        `${show(mac)} is not a MAC address`,
        "write it like 02:00:00:00:01:01",
      );
    } else if (bytes[0] & 1) {
      issues.add(
        [...path, "mac"],
        `${show(mac)} is a ${bytes.every((b) => b === 0xff) ? "broadcast" : "multicast"} MAC`,
        "the first byte must be even",
      );
    } else if (bytes.every((b) => b === 0)) {
      issues.add(
        [...path, "mac"],
        `${show(mac)} is the all-zero MAC`,
        "write it like 02:00:00:00:01:01",
      );
    } else host.mac = mac.toLowerCase().replaceAll("-", ":");
  }
  const iface = str(issues, obj, "iface", path);
  if (iface !== undefined) {
    if (IFACE_PATTERN.test(iface)) host.iface = iface;
    else {
      issues.add(
        [...path, "iface"],
        `${show(iface)} is not a safe interface name`,
        "use at most 15 lower-case letters, digits, - or _, starting with a letter",
      );
    }
  }
  host.gateway = ipv4(issues, obj, "gateway", path);
  host.machine = str(issues, obj, "machine", path);
  return host;
}

function readMachine(issues: IssueList, name: string, value: unknown): MachineEntry | undefined {
  const path = ["machines", name];
  const obj = mapping(issues, value, path, true);
  if (!obj) return undefined;
  checkKeys(issues, obj, "machine", path);
  const machine: MachineEntry = { name };
  const rate = str(issues, obj, "rate", path);
  if (rate !== undefined) {
    const bitS = parseRate(rate);
    if (bitS === undefined || bitS < RATE_MIN_BIT_S || bitS > RATE_MAX_BIT_S) {
      issues.add(
        [...path, "rate"],
        bitS === undefined ? `${show(rate)} is not a rate` : `${show(rate)} is out of range`,
        "write it as tc does, from 64kbit to 100gbit: 1gbit, 100mbit, 500kbit",
      );
    } else machine.rate = { text: rate, bitS };
  }
  const delay = str(issues, obj, "delay", path);
  if (delay !== undefined) {
    const ms = parseDelay(delay);
    if (ms === undefined || ms > DELAY_MAX_MS) {
      issues.add(
        [...path, "delay"],
        ms === undefined ? `${show(delay)} is not a delay` : `${show(delay)} is too long`,
        "write it as tc does, up to 10s: 0.5ms, 200us, 2ms",
      );
    } else machine.delay = { text: delay, ms };
  }
  return machine;
}

function readUnderlay(issues: IssueList, root: Obj): LabFile["underlay"] {
  const text = str(issues, root, "underlay", []);
  if (text === undefined) return undefined;
  const cidr = parseCidr(text);
  if (!cidr || cidr.prefix < 8 || cidr.prefix > 29 || unusableAddress(cidr.addr)) {
    return issues.add(
      ["underlay"],
      `${show(text)} is not a usable underlay subnet`,
      "write a private IPv4 subnet from /8 to /29, e.g. underlay: 172.30.7.0/24",
    );
  }
  return { text, addr: cidr.addr, prefix: cidr.prefix };
}

function readSwitch(issues: IssueList, name: string, value: unknown): SwitchEntry | undefined {
  const path = ["switches", name];
  const obj = mapping(issues, value, path, true);
  if (!obj) return undefined;
  checkKeys(issues, obj, "switch", path);
  return {
    name,
    kind: oneOf(issues, obj, "kind", path, SWITCH_KINDS),
    deviceId: int(issues, obj, "device_id", path, 0, 65535),
    // Below 1024 lie the machine's own services (ssh on 22, ...): never a switch's.
    grpcPort: int(issues, obj, "grpc_port", path, 1024, 65535),
    thriftPort: int(issues, obj, "thrift_port", path, 1024, 65535),
    queueDepth: int(issues, obj, "queue_depth", path, 1, MAX_QUEUE_DEPTH),
    machine: str(issues, obj, "machine", path),
  };
}

const ENDPOINT = /^([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?::(.*))?$/;

function readEndpoint(issues: IssueList, value: unknown, path: FieldPath): Endpoint | undefined {
  if (typeof value !== "string") {
    return issues.add(path, `must be a host name or switch:port, not ${typeName(value)}`);
  }
  const m = ENDPOINT.exec(value.trim());
  if (!m) {
    return issues.add(
      path,
      `${show(value)} is not a link end`,
      "write a host name (h1) or a switch port (s1:2)",
    );
  }
  const end: Endpoint = { node: m[1], text: value };
  if (m[2] !== undefined) {
    const port = /^\d{1,4}$/.test(m[2]) ? Number(m[2]) : NaN;
    if (!(port >= PORT_MIN && port <= PORT_MAX)) {
      return issues.add(
        path,
        `${show(value)} has a bad port number`,
        `BMv2 ports are integers from ${PORT_MIN} to ${PORT_MAX}`,
      );
    }
    end.port = port;
  }
  return end;
}

function readLinks(issues: IssueList, root: Obj): LinkEntry[] {
  const value = root.links;
  if (value === undefined || value === null) {
    issues.add(["links"], "is missing", "add links such as - [h1, s1:1]");
    return [];
  }
  if (!Array.isArray(value)) {
    issues.add(
      ["links"],
      `must be a list, not ${typeName(value)}`,
      "write links such as - [h1, s1:1]",
    );
    return [];
  }
  const links: LinkEntry[] = [];
  value.forEach((item, index) => {
    const path = ["links", index];
    if (!Array.isArray(item) || item.length !== 2) {
      issues.add(
        path,
        `${show(item)} is not a pair of link ends`,
        "write - [h1, s1:1] or - [s1:2, s2:1]",
      );
      return;
    }
    const a = readEndpoint(issues, item[0], [...path, 0]);
    const b = readEndpoint(issues, item[1], [...path, 1]);
    if (a && b) links.push({ index, ends: [a, b] });
  });
  return links;
}

function readLoadBalancer(issues: IssueList, root: Obj): LoadBalancerEntry | undefined {
  const path = ["load_balancer"];
  if (root.load_balancer === undefined || root.load_balancer === null) {
    return issues.add(
      path,
      "is missing",
      "add load_balancer: {vip: ..., port: ..., backends: [...]}",
    );
  }
  const obj = mapping(issues, root.load_balancer, path);
  if (!obj) return undefined;
  checkKeys(issues, obj, "load_balancer", path);
  const lb: LoadBalancerEntry = { backends: [] };
  lb.switch = str(issues, obj, "switch", path);
  if (
    required(issues, obj, "vip", path, "the virtual IP clients connect to, e.g. vip: 10.0.0.100")
  ) {
    lb.vip = ipv4(issues, obj, "vip", path);
  }
  if (required(issues, obj, "port", path, "the service's TCP port, e.g. port: 12345")) {
    lb.port = int(issues, obj, "port", path, 1, 65535);
  }
  if (required(issues, obj, "backends", path, "the hosts serving the VIP, e.g. backends: [h2]")) {
    const backends = obj.backends;
    if (!Array.isArray(backends) || backends.length === 0) {
      issues.add([...path, "backends"], `must be a non-empty list of host names`);
    } else {
      backends.forEach((b, i) => {
        if (typeof b === "string") lb.backends.push(b);
        else issues.add([...path, "backends", i], `must be a host name, not ${typeName(b)}`);
      });
    }
  }
  return lb;
}

function readCommand(issues: IssueList, value: unknown, path: FieldPath): string[] | undefined {
  let argv: string[];
  if (typeof value === "string") argv = value.trim().split(/\s+/).filter((s) => s);
  else if (
    Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number")
  ) {
    argv = value.map(String);
  } else return issues.add(path, `must be a list of arguments, not ${typeName(value)}`);
  if (argv.length === 0) return issues.add(path, "is empty", "give the program and its arguments");
  let ok = true;
  argv.forEach((arg, i) => {
    for (const m of arg.matchAll(/\{([^}]*)\}/g)) {
      if (!(COMMAND_PLACEHOLDERS as readonly string[]).includes(m[1])) {
        ok = false;
        issues.add(
          Array.isArray(value) ? [...path, i] : path,
          `${show(arg)} uses an unknown placeholder {${m[1]}}`,
          suggestionHint(m[1], COMMAND_PLACEHOLDERS, "placeholders"),
        );
      }
    }
  });
  return ok ? argv : undefined;
}

function readWorkload(issues: IssueList, name: string, value: unknown): WorkloadEntry | undefined {
  const path = ["workloads", name];
  const obj = mapping(issues, value, path);
  if (!obj) return undefined;
  checkKeys(issues, obj, "workload", path);
  const w: WorkloadEntry = { name };
  if (required(issues, obj, "host", path, "the host it starts on, e.g. host: h2")) {
    w.host = str(issues, obj, "host", path);
  }
  if (obj.hosts !== undefined && obj.hosts !== null) {
    if (!Array.isArray(obj.hosts) || obj.hosts.some((h) => typeof h !== "string")) {
      issues.add([...path, "hosts"], "must be a list of host names", "e.g. hosts: [h2, h3, h4]");
    } else w.hosts = obj.hosts as string[];
  }
  w.kind = oneOf(issues, obj, "kind", path, WORKLOAD_KINDS);
  w.role = oneOf(issues, obj, "role", path, WORKLOAD_ROLES);
  w.image = str(issues, obj, "image", path);
  if (
    required(
      issues,
      obj,
      "command",
      path,
      'the program to run, e.g. command: [counter_server, "{port}"]',
    )
  ) {
    w.command = readCommand(issues, obj.command, [...path, "command"]);
  }
  return w;
}

/**
 * Checks the structure of a parsed lab file (the value YAML produced) and returns its typed form
 * plus every problem found. Fields with problems are left out of the result.
 */
export function readLabFile(raw: unknown): { file: LabFile; issues: LabIssue[] } {
  const issues = new IssueList();
  const file: LabFile = { defaults: {}, hosts: [], switches: [], links: [], workloads: [] };
  if (raw === null || raw === undefined) {
    issues.add([], "is empty", "start from one of the labs in lab/");
    return { file, issues: issues.items };
  }
  const root = mapping(issues, raw, []);
  if (!root) return { file, issues: issues.items };
  checkKeys(issues, root, "root", []);

  const name = str(issues, root, "name", []);
  if (name !== undefined && checkName(issues, name, ["name"], "lab")) file.name = name;
  const id = str(issues, root, "id", []);
  if (id !== undefined) {
    if (LAB_ID_PATTERN.test(id)) file.id = id;
    else {
      issues.add(
        ["id"],
        `${show(id)} is not a usable lab id`,
        `use 1 to ${LAB_ID_MAX} lower-case letters or digits, starting with a letter (it prefixes every interface name)`,
      );
    }
  }
  file.description = str(issues, root, "description", []);
  file.runtime = oneOf(issues, root, "runtime", [], LAB_RUNTIMES);
  if (root.defaults !== undefined && root.defaults !== null) {
    const d = mapping(issues, root.defaults, ["defaults"]);
    if (d) {
      checkKeys(issues, d, "defaults", ["defaults"]);
      file.defaults.hostKind = oneOf(issues, d, "host_kind", ["defaults"], HOST_KINDS);
      file.defaults.switchKind = oneOf(issues, d, "switch_kind", ["defaults"], SWITCH_KINDS);
    }
  }
  for (const [n, v] of namedEntries(issues, root, "hosts", "host", true)) {
    const host = readHost(issues, n, v);
    if (host) file.hosts.push(host);
  }
  for (const [n, v] of namedEntries(issues, root, "switches", "switch", true)) {
    const sw = readSwitch(issues, n, v);
    if (sw) file.switches.push(sw);
  }
  file.links = readLinks(issues, root);
  file.loadBalancer = readLoadBalancer(issues, root);
  for (const [n, v] of namedEntries(issues, root, "workloads", "workload", false)) {
    const w = readWorkload(issues, n, v);
    if (w) file.workloads.push(w);
  }
  if (root.machines !== undefined && root.machines !== null) {
    file.machines = [];
    for (const [n, v] of namedEntries(issues, root, "machines", "machine", true)) {
      const m = readMachine(issues, n, v);
      if (m) file.machines.push(m);
    }
  }
  file.underlay = readUnderlay(issues, root);
  return { file, issues: issues.items };
}
