import assert from "node:assert/strict";
import { describeError } from "../../lib/errors.ts";
import { formatPath, LabFileError, type LabIssue } from "../../lib/lab/issues.ts";
import { parseLabText } from "../../lib/lab/parse.ts";

const RUN_ROOT = "/nonexistent/p4t-validate-runs";
const FILE = "/tmp/p4t-validate.yaml";

/** A valid two-host lab; tests replace parts of it. */
const BASE = `name: p4t-valid
id: tv
hosts:
  h1: { ip: 10.0.1.1/24 }
  h2: { ip: 10.0.2.2/24 }
switches:
  s1: {}
links:
  - [h1, s1:1]
  - [h2, s1:2]
load_balancer:
  vip: 10.0.0.100
  port: 12345
  backends: [h2]
workloads:
  server: { host: h2, command: [counter_server, "{port}"] }
`;

function issuesOf(text: string): LabIssue[] {
  try {
    parseLabText(text, FILE, { runRoot: RUN_ROOT });
  } catch (err) {
    if (err instanceof LabFileError) return [...err.issues];
    throw err;
  }
  return [];
}

/** Asserts exactly one issue at `path` whose message matches, and returns it. */
function expectIssue(text: string, path: string, message: RegExp): LabIssue {
  const issues = issuesOf(text);
  const found = issues.filter((i) => formatPath(i.path) === path && message.test(i.message));
  assert.equal(
    found.length,
    1,
    `expected one issue at ${path} ~ ${message}, got:\n${
      issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join("\n")
    }`,
  );
  return found[0];
}

Deno.test("the base lab is valid and parsing creates nothing", () => {
  assert.deepEqual(issuesOf(BASE), []);
  assert.throws(() => Deno.statSync(RUN_ROOT), Deno.errors.NotFound);
});

Deno.test("unknown keys are reported with did-you-mean, at every level", () => {
  const root = expectIssue(
    BASE.replace("switches:", "swiches:\n  s9: {}\nswitches:"),
    "swiches",
    /not a known key/,
  );
  assert.equal(root.hint, 'did you mean "switches"?');
  const host = expectIssue(
    BASE.replace("h1: { ip: 10.0.1.1/24 }", "h1: { ip: 10.0.1.1/24, gatway: 10.0.1.254 }"),
    "hosts.h1.gatway",
    /not a known key/,
  );
  assert.equal(host.hint, 'did you mean "gateway"?');
  const sw = expectIssue(
    BASE.replace("s1: {}", "s1: { grpc: 50051 }"),
    "switches.s1.grpc",
    /not a known key/,
  );
  assert.equal(sw.hint, 'did you mean "grpc_port"?');
  const lb = expectIssue(
    BASE.replace("port: 12345", "port: 12345\n  backend: [h2]"),
    "load_balancer.backend",
    /not a known key/,
  );
  assert.equal(lb.hint, 'did you mean "backends"?');
  const far = expectIssue(
    BASE.replace("workloads:", "xyzzy: 1\nworkloads:"),
    "xyzzy",
    /not a known key/,
  );
  assert.match(far.hint ?? "", /^known keys are: name, id,/);
});

Deno.test("duplicate names: repeated YAML keys and a host named like a switch", () => {
  const dup = issuesOf(
    BASE.replace(
      "  h2: { ip: 10.0.2.2/24 }",
      "  h2: { ip: 10.0.2.2/24 }\n  h2: { ip: 10.0.3.3/24 }",
    ),
  );
  assert.ok(
    dup.some((i) => i.message === '"h2" is defined twice' && i.line === 6),
    JSON.stringify(dup),
  );
  expectIssue(
    BASE.replace("switches:\n  s1: {}", "switches:\n  s1: {}\n  h1: {}"),
    "switches.h1",
    /duplicates the name "h1" of hosts.h1/,
  );
  expectIssue(BASE.replace("server: {", "h1: {"), "workloads.h1", /duplicates the name/);
  expectIssue(
    BASE.replace("server: {", "h2-infra: {"),
    "workloads.h2-infra",
    /reserved for pod infra/,
  );
});

Deno.test("duplicate IPs and MACs", () => {
  expectIssue(
    BASE.replace("10.0.2.2/24", "10.0.1.1/24"),
    "hosts.h2.ip",
    /10\.0\.1\.1 is also the address of host h1/,
  );
  const mac = expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, mac: 02:aa:00:00:00:01 }")
      .replace("{ ip: 10.0.2.2/24 }", "{ ip: 10.0.2.2/24, mac: 02:AA:00:00:00:01 }"),
    "hosts.h2.mac",
    /02:aa:00:00:00:01 is also the MAC of host h1/,
  );
  assert.match(mac.hint ?? "", /leave mac out/);
  expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, mac: 02:01:00:00:00:02 }"),
    "hosts.h2.mac",
    /MAC of switch port s1:2/,
  );
  expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, mac: 03:00:00:00:00:01 }"),
    "hosts.h1.mac",
    /multicast/,
  );
  expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, mac: 02:00:00:00:01 }"),
    "hosts.h1.mac",
    /not a MAC address/,
  );
});

Deno.test("addresses outside their subnet, network/broadcast addresses, malformed addresses", () => {
  const gw = expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, gateway: 10.0.2.254 }"),
    "hosts.h1.gateway",
    /outside the host's subnet 10\.0\.1\.0\/24/,
  );
  assert.ok(gw.hint);
  expectIssue(BASE.replace("10.0.1.1/24", "10.0.1.0/24"), "hosts.h1.ip", /network address/);
  expectIssue(BASE.replace("10.0.1.1/24", "10.0.1.255/24"), "hosts.h1.ip", /broadcast address/);
  expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, gateway: 10.0.1.1 }"),
    "hosts.h1.gateway",
    /own, network or broadcast/,
  );
  expectIssue(
    BASE.replace("{ ip: 10.0.2.2/24 }", "{ ip: 10.0.2.2/24, gateway: 10.0.1.1 }"),
    "hosts.h2.gateway",
    /outside/,
  );
  expectIssue(
    BASE.replace("10.0.1.1/24", "10.0.1.300/24"),
    "hosts.h1.ip",
    /"10\.0\.1\.300\/24" is not an IPv4 address/,
  );
  expectIssue(BASE.replace("10.0.1.1/24", "10.0.1.1/31"), "hosts.h1.ip", /prefix \/31/);
  expectIssue(BASE.replace("{ ip: 10.0.1.1/24 }", "{ kind: netns }"), "hosts.h1.ip", /is missing/);
});

Deno.test("a gateway that is another host's address is reported", () => {
  const text = BASE.replace("{ ip: 10.0.2.2/24 }", "{ ip: 10.0.1.2/24, gateway: 10.0.1.1 }");
  expectIssue(text, "hosts.h2.gateway", /10\.0\.1\.1 is the address of host h1/);
});

Deno.test("the VIP may not collide with a host address or gateway", () => {
  expectIssue(
    BASE.replace("vip: 10.0.0.100", "vip: 10.0.2.2"),
    "load_balancer.vip",
    /collides with the address of host h2/,
  );
  expectIssue(
    BASE.replace("vip: 10.0.0.100", "vip: 10.0.1.254"),
    "load_balancer.vip",
    /collides with the gateway of host h1/,
  );
  expectIssue(
    BASE.replace("vip: 10.0.0.100", "vip: 10.0.0"),
    "load_balancer.vip",
    /not an IPv4 address/,
  );
});

Deno.test("dangling links: unknown host or switch, with did-you-mean", () => {
  const host = expectIssue(
    BASE.replace("[h2, s1:2]", "[h3, s1:2]"),
    "links[1][0]",
    /"h3" names no host or switch/,
  );
  assert.equal(host.hint, 'did you mean "h1"?');
  expectIssue(
    BASE.replace("[h2, s1:2]", "[h2, sw1:2]"),
    "links[1][1]",
    /"sw1:2" names no host or switch/,
  );
  expectIssue(BASE.replace("[h2, s1:2]", "[h2, h1]"), "links[1]", /links two hosts/);
  expectIssue(BASE.replace("[h2, s1:2]", "[h2:1, s1:2]"), "links[1][0]", /single interface/);
  expectIssue(BASE.replace("[h2, s1:2]", "[h2, s1:2, s1:3]"), "links[1]", /not a pair/);
  expectIssue(BASE.replace("[h2, s1:2]", "[h2, S1:2]"), "links[1][1]", /not a link end/);
  expectIssue(BASE.replace("  - [h2, s1:2]\n", ""), "hosts.h2", /not linked to a switch/);
  expectIssue(
    BASE.replace("  - [h2, s1:2]\n", "  - [h2, s1:2]\n  - [s1:3, s1:4]\n"),
    "links[2]",
    /to itself/,
  );
});

Deno.test("a port used twice and a host linked twice", () => {
  const twice = expectIssue(
    BASE.replace("[h2, s1:2]", "[h2, s1:1]"),
    "links[1][1]",
    /port s1:1 is already used \(at links\[0\]\[1\]\)/,
  );
  assert.match(twice.hint ?? "", /once/);
  const text = BASE.replace("switches:\n  s1: {}", "switches:\n  s1: {}\n  s2: {}").replace(
    "  - [h2, s1:2]\n",
    "  - [h2, s1:2]\n  - [h2, s2:1]\n",
  );
  expectIssue(text, "links[2][0]", /host h2 is already linked/);
});

Deno.test("bad port numbers", () => {
  expectIssue(BASE.replace("s1:2]", "s1:511]"), "links[1][1]", /bad port number/);
  expectIssue(BASE.replace("s1:2]", "s1:x]"), "links[1][1]", /bad port number/);
  expectIssue(BASE.replace("s1:2]", "s1:-1]"), "links[1][1]", /bad port number/);
  expectIssue(
    BASE.replace("port: 12345", "port: 70000"),
    "load_balancer.port",
    /not an integer from 1 to 65535/,
  );
  expectIssue(
    BASE.replace("s1: {}", "s1: { grpc_port: 0 }"),
    "switches.s1.grpc_port",
    /not an integer/,
  );
  expectIssue(
    BASE.replace("s1: {}", "s1: { device_id: 1.5 }"),
    "switches.s1.device_id",
    /not an integer/,
  );
});

Deno.test("switch ports and ids must be distinct", () => {
  const text = BASE.replace(
    "switches:\n  s1: {}",
    "switches:\n  s1: { thrift_port: 21090 }\n  s2: { device_id: 0, grpc_port: 21090 }",
  )
    .replace("  - [h2, s1:2]\n", "  - [h2, s1:2]\n  - [s1:3, s2:1]\n");
  expectIssue(text, "switches.s2.device_id", /0 is also the device id of s1/);
  expectIssue(text, "switches.s2.grpc_port", /21090 is also used by s1 \(thrift_port\)/);
});

Deno.test("backends that are not hosts", () => {
  expectIssue(
    BASE.replace("backends: [h2]", "backends: [h2, s1]"),
    "load_balancer.backends[1]",
    /"s1" is a switch, not a host/,
  );
  const unknown = expectIssue(
    BASE.replace("backends: [h2]", "backends: [h2, h22]"),
    "load_balancer.backends[1]",
    /"h22" is not a host/,
  );
  assert.equal(unknown.hint, 'did you mean "h2"?');
  expectIssue(
    BASE.replace("backends: [h2]", "backends: [h2, h2]"),
    "load_balancer.backends[1]",
    /listed twice/,
  );
  expectIssue(
    BASE.replace("backends: [h2]", "backends: []"),
    "load_balancer.backends",
    /non-empty list/,
  );
  expectIssue(BASE.replace("  vip: 10.0.0.100\n", ""), "load_balancer.vip", /is missing/);
  expectIssue(
    BASE.replace("  vip: 10.0.0.100", "  switch: s7\n  vip: 10.0.0.100"),
    "load_balancer.switch",
    /"s7" is not a switch/,
  );
});

Deno.test("workloads on unknown hosts and mismatched kinds", () => {
  const w = expectIssue(
    BASE.replace("server: { host: h2", "server: { host: h7"),
    "workloads.server.host",
    /"h7" is not a host/,
  );
  assert.ok(w.hint);
  expectIssue(
    BASE.replace("server: { host: h2", "server: { kind: container, host: h2"),
    "workloads.server.kind",
    /needs a pod host/,
  );
  expectIssue(
    BASE.replace("h2: { ip: 10.0.2.2/24 }", "h2: { ip: 10.0.2.2/24, kind: pod }"),
    "workloads.server.image",
    /is missing/,
  );
  expectIssue(
    BASE.replace("server: { host: h2", "server: { host: h1, role: server"),
    "workloads.server.host",
    /not a load balancer backend/,
  );
  expectIssue(
    BASE.replace('[counter_server, "{port}"]', '[counter_server, "{prot}"]'),
    "workloads.server.command[1]",
    /unknown placeholder \{prot\}/,
  );
  expectIssue(
    BASE.replace('[counter_server, "{port}"]', "[]"),
    "workloads.server.command",
    /is empty/,
  );
});

Deno.test("names that cannot become safe Linux object names", () => {
  expectIssue(BASE.replace("  h1: {", "  H1: {"), "hosts.H1", /cannot become a Linux object name/);
  expectIssue(
    BASE.replace("  h1: {", "  h_1: {"),
    "hosts.h_1",
    /cannot become a Linux object name/,
  );
  expectIssue(
    BASE.replace("  s1: {}", "  1s: {}"),
    "switches.1s",
    /cannot become a Linux object name/,
  );
  expectIssue(
    BASE.replace("name: p4t-valid", "name: p4t--valid"),
    "name",
    /cannot become a Linux object name/,
  );
  expectIssue(BASE.replace("id: tv", "id: t-v"), "id", /not a usable lab id/);
  expectIssue(BASE.replace("id: tv", "id: toolong"), "id", /not a usable lab id/);
  expectIssue(
    BASE.replace("{ ip: 10.0.1.1/24 }", "{ ip: 10.0.1.1/24, iface: eth0;rm }"),
    "hosts.h1.iface",
    /not a safe interface name/,
  );
});

Deno.test("the longest derived interface name must fit 15 characters", () => {
  const text = BASE.replace("id: tv", "id: tvxyz").replaceAll("s1", "sw-abcd");
  const issue = expectIssue(
    text,
    "links[0][1]",
    /"tvxyz-sw-abcd-eth1" \(18 characters; Linux allows 15\)/,
  );
  assert.match(issue.hint ?? "", /shorten the lab id/);
  assert.deepEqual(issuesOf(BASE.replace("id: tv", "id: tvxyz").replaceAll("s1", "sw1")), []);
});

Deno.test("hosts must reach the load balancer switch", () => {
  const text = BASE.replace("switches:\n  s1: {}", "switches:\n  s1: {}\n  s2: {}").replace(
    "[h2, s1:2]",
    "[h2, s2:1]",
  );
  expectIssue(text, "hosts.h2", /on switch s2, which has no path to the load balancer switch s1/);
  const linked = text.replace("  - [h2, s2:1]\n", "  - [h2, s2:1]\n  - [s1, s2]\n");
  assert.deepEqual(issuesOf(linked), []);
});

Deno.test("all problems are reported at once, sorted by line, with file, line and hints", () => {
  const text = BASE.replace("10.0.1.1/24", "10.0.1.300/24")
    .replace("s1: {}", "s1: { kind: bmv3 }")
    .replace("[h2, s1:2]", "[h2, s1:600]")
    .replace("vip: 10.0.0.100", "vip: 10.0.0.100\n  colour: blue");
  let err: unknown;
  try {
    parseLabText(text, FILE, { runRoot: RUN_ROOT });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabFileError);
  const lines = err.issues.map((i) => i.line ?? 0);
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
  assert.ok(err.issues.length >= 4, describeError(err));
  const text2 = describeError(err);
  assert.match(text2, /^Cannot load lab file "\/tmp\/p4t-validate\.yaml": \d+ problems/);
  assert.match(text2, /line 4: hosts\.h1\.ip "10\.0\.1\.300\/24" is not an IPv4 address/);
  assert.match(
    text2,
    /line 7: switches\.s1\.kind "bmv3" is not one of bmv2, bmv2-container\n {6}hint: did you mean "bmv2"\?/,
  );
  assert.match(text2, /line 13: load_balancer\.colour is not a known key/);
});

Deno.test("a single problem reads as one sentence with the file and line", () => {
  let err: unknown;
  try {
    parseLabText(BASE.replace("10.0.1.1/24", "10.0.1.300/24"), FILE, { runRoot: RUN_ROOT });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabFileError);
  assert.equal(
    err.message,
    'Cannot load lab file "/tmp/p4t-validate.yaml:4": hosts.h1.ip "10.0.1.300/24" is not an IPv4 address',
  );
  assert.equal(err.hint, "write it like 10.0.1.1/24");
});

Deno.test("YAML syntax errors and empty files", () => {
  const syntax = issuesOf("hosts:\n  h1: { ip: 10.0.1.1\n  h2: [\n");
  assert.ok(syntax.length >= 1 && syntax.every((i) => /not valid YAML/.test(i.message) && i.line));
  assert.match(issuesOf("")[0].message, /is empty/);
  assert.match(issuesOf("- a\n- b\n")[0].message, /must be a mapping, not a list/);
  expectIssue(
    BASE.replace("links:\n  - [h1, s1:1]\n  - [h2, s1:2]", "links: h1-s1"),
    "links",
    /must be a list/,
  );
});

Deno.test("unusable addresses, MACs and ports are refused where they are written", () => {
  const cases: [string, string, string, RegExp][] = [
    ["vip: 10.0.0.100", "vip: 127.0.0.1", "load_balancer.vip", /loopback/],
    ["vip: 10.0.0.100", "vip: 224.0.0.1", "load_balancer.vip", /multicast/],
    ["vip: 10.0.0.100", "vip: 255.255.255.255", "load_balancer.vip", /broadcast address/],
    ["h1: { ip: 10.0.1.1/24 }", "h1: { ip: 127.0.0.5/24 }", "hosts.h1.ip", /loopback/],
    ["h1: { ip: 10.0.1.1/24 }", "h1: { ip: 0.1.2.3 }", "hosts.h1.ip", /0\.0\.0\.0\/8/],
    [
      "h1: { ip: 10.0.1.1/24 }",
      "h1: { ip: 10.0.1.1/24, mac: '00:00:00:00:00:00' }",
      "hosts.h1.mac",
      /all-zero/,
    ],
    [
      "h1: { ip: 10.0.1.1/24 }",
      "h1: { ip: 10.0.1.1/24, mac: 'ff:ff:ff:ff:ff:ff' }",
      "hosts.h1.mac",
      /broadcast MAC/,
    ],
    ["s1: {}", "s1: { grpc_port: 22 }", "switches.s1.grpc_port", /./],
    ["s1: {}", "s1: { thrift_port: 80 }", "switches.s1.thrift_port", /./],
    ["s1: {}", "s1: { queue_depth: 0 }", "switches.s1.queue_depth", /./],
  ];
  for (const [from, to, path, message] of cases) expectIssue(BASE.replace(from, to), path, message);
});

Deno.test("oversized lab files and YAML alias bombs are refused with one clear issue", () => {
  const big = BASE + "\n" + "# padding\n".repeat(30_000);
  const [size] = issuesOf(big);
  assert.match(size.message, /KB, more than a lab file may be/);
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
  ].join("\n");
  const [alias] = issuesOf(BASE + "\n" + bomb);
  assert.match(alias.message, /cannot be expanded/);
  assert.match(alias.hint ?? "", /aliases/);
});
