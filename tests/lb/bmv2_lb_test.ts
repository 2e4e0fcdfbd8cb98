/**
 * End to end: p4/build/lb.json on simple_switch_grpc, programmed over P4Runtime from the planned
 * entries, with a client (h1) and two servers (h2, h3) in network namespaces.
 *
 * Proves: TCP through the VIP works; plain L3 forwarding works; adding a backend leaves every
 * established connection where it was; migrating a backend (one MODIFY) moves exactly that
 * backend's connections; UDP to the VIP is dropped and counted.
 */
import { testHost } from "../_hosts.ts";
import assert from "node:assert/strict";
import { capTest } from "../_caps.ts";
import type { Host, Lab, Switch } from "../../lib/lab/types.ts";
import {
  type EntryUpdate,
  initialLbState,
  planAddBackend,
  planLabEntries,
  planMigrateBackend,
} from "../../lib/lb/entries.ts";
import { COUNTERS, DROP_REASONS, FLOW_EVENTS, LB_PROGRAM } from "../../lib/p4/lb_program.ts";
import { type RunningSwitch, startSwitch, stopSwitch } from "../../lib/bmv2/switch.ts";
import { DaxShell, inNetns, spawnDetached } from "../../lib/shell.ts";
import { P4RuntimeClient } from "../../lib/p4runtime/client.ts";
import { P4Info } from "../../lib/p4runtime/p4info.ts";
import { UpdateType } from "../../lib/p4runtime/messages.ts";

const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const shell = new DaxShell();
const SERVICE_PORT = 7000;
/** Servers also listen here: traffic to it is plain L3 (no VIP, no reverse rewrite). */
const DIRECT_PORT = 7001;

const SERVER_PY = `
import socket, sys, threading
name = sys.argv[1].encode()
def serve(c):
    try:
        for line in c.makefile("rb"):
            c.sendall(name + b" " + line)
    except OSError:
        pass
    finally:
        c.close()
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(256)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
for p in sys.argv[3:]:
    threading.Thread(target=listen, args=(int(p),), daemon=True).start()
listen(int(sys.argv[2]))
`;

/** Line protocol on stdin: `open ADDR PORT N [ipopt]`, `ask`, `udp ADDR PORT`, `quit`; one JSON line out. */
const CLIENT_PY = `
import json, socket, sys, time
conns = []
def out(x):
    sys.stdout.write(json.dumps(x) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "open":
        t0 = time.monotonic(); res = []
        for i in range(int(cmd[3])):
            s = socket.socket(); s.settimeout(3)
            if len(cmd) > 4:
                # IPv4 options (NOP, NOP, NOP, EOL): ihl 6 exercises the options checksum and
                # the TCP length computed from ihl.
                s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\\x01\\x01\\x01\\x00")
            try:
                s.connect((cmd[1], int(cmd[2]))); conns.append(s); res.append("ok")
            except OSError as e:
                res.append("ERR:" + type(e).__name__)
        out({"results": res, "ms": (time.monotonic() - t0) * 1000})
    elif cmd[0] == "ask":
        t0 = time.monotonic(); res = []
        for i, s in enumerate(conns):
            try:
                s.sendall(b"ping %d\\n" % i)
                data = b""
                while not data.endswith(b"\\n"):
                    chunk = s.recv(100)
                    if not chunk:
                        raise ConnectionResetError("closed")
                    data += chunk
                res.append(data.split()[0].decode())
            except OSError as e:
                res.append("ERR:" + type(e).__name__)
        out({"results": res, "ms": (time.monotonic() - t0) * 1000})
    elif cmd[0] == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (cmd[1], int(cmd[2]))); out({"results": ["sent"], "ms": 0})
    else:
        break
`;

function testLab(prefix: string, grpcPort: number, thriftPort: number): Lab {
  const host = (n: number): Host => testHost(n, "s1", n);
  const hosts = [host(1), host(2), host(3)];
  const s1: Switch = {
    name: "s1",
    kind: "bmv2",
    deviceId: 1,
    grpcPort,
    thriftPort,
    ports: hosts.map((h) => ({
      port: h.switchPort,
      iface: `${prefix}s1p${h.switchPort}`,
      mac: h.gatewayMac,
      peer: { kind: "host" as const, host: h.name },
    })),
  };
  return {
    name: "bmv2-lb-test",
    description: "",
    file: "/dev/null",
    hosts,
    switches: [s1],
    loadBalancer: { switch: "s1", vip: "10.0.0.100", servicePort: SERVICE_PORT, backends: ["h2"] },
    workloads: [],
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Creates the host namespace and its veth to the switch (static ARP for the gateway). */
async function wireHost(h: Host, ns: string, switchIface: string): Promise<void> {
  const tmpName = `${switchIface}h`;
  const run = (argv: string[]) => shell.run(argv);
  await run(["ip", "netns", "add", ns]);
  await run(["ip", "link", "add", tmpName, "type", "veth", "peer", "name", switchIface]);
  await run(["ip", "link", "set", tmpName, "netns", ns]);
  await run(["ip", "-n", ns, "link", "set", tmpName, "name", h.iface]);
  await run(["ip", "-n", ns, "link", "set", h.iface, "address", h.mac]);
  await run(["ip", "-n", ns, "addr", "add", `${h.ip}/${h.prefix}`, "dev", h.iface]);
  await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  await run(["ip", "-n", ns, "link", "set", h.iface, "up"]);
  await run(["ip", "-n", ns, "route", "add", "default", "via", h.gateway, "dev", h.iface]);
  await run([
    ...["ip", "-n", ns, "neigh", "replace", h.gateway, "lladdr", h.gatewayMac],
    ...["dev", h.iface, "nud", "permanent"],
  ]);
  // BMv2 reads frames from packet sockets: checksum offload would leave partial checksums and
  // segmentation offload would hand it 64 KiB frames.
  await run(inNetns(ns, ["ethtool", "-K", h.iface, "tx", "off", "tso", "off", "gso", "off"]));
  await run(inNetns(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]));
  await run(["sysctl", "-q", "-w", `net.ipv6.conf.${switchIface}.disable_ipv6=1`]);
  await run(["ethtool", "-K", switchIface, "tx", "off", "tso", "off", "gso", "off", "gro", "off"]);
  await run(["ip", "link", "set", switchIface, "up"]);
}

/** The interactive client in h1. */
class Client {
  #proc: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  constructor(ns: string) {
    const [cmd, ...args] = inNetns(ns, ["python3", "-u", "-c", CLIENT_PY]);
    this.#proc = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#proc.stdin.getWriter();
    this.#lines = this.#proc.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new LineSplitter(),
    )[Symbol.asyncIterator]();
  }
  async send(command: string): Promise<{ results: string[]; ms: number }> {
    await this.#writer.write(new TextEncoder().encode(command + "\n"));
    const next = await this.#lines.next();
    if (next.done) throw new Error(`client exited during "${command}"`);
    return JSON.parse(next.value);
  }
  async close(): Promise<void> {
    await this.#writer.write(new TextEncoder().encode("quit\n")).catch(() => {});
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3000);
    await this.#proc.status;
    clearTimeout(timer);
    await this.#proc.stdout.cancel().catch(() => {});
  }
}

class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buffer = "";
    super({
      transform(chunk, controller) {
        buffer += chunk;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        for (const p of parts) controller.enqueue(p);
      },
    });
  }
}

/** Writes updates in order, one WriteRequest per run of same type and table. */
async function applyUpdates(sw: P4RuntimeClient, updates: EntryUpdate[]): Promise<void> {
  const type = { INSERT: UpdateType.INSERT, MODIFY: UpdateType.MODIFY, DELETE: UpdateType.DELETE };
  for (let i = 0; i < updates.length;) {
    let j = i;
    while (
      j < updates.length && updates[j].type === updates[i].type &&
      updates[j].entry.table === updates[i].entry.table
    ) j++;
    await sw.writeEntries(type[updates[i].type], updates.slice(i, j).map((u) => u.entry));
    i = j;
  }
}

function tally(results: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r] = (out[r] ?? 0) + 1;
  return out;
}

capTest({
  name: "bmv2 load balancer: VIP, add backend keeps connections, migration moves one backend",
  needs: ["netns", "bmv2"],
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const prefix = `p4t${Math.random().toString(16).slice(2, 6)}`;
    const runDir = await Deno.makeTempDir({ prefix: `${prefix}-` });
    const lab = testLab(prefix, freePort(), freePort());
    const ns = (h: Host) => `${prefix}${h.name}`;
    const created: string[] = [];
    const pids: number[] = [];
    let running: RunningSwitch | undefined;
    let p4rt: P4RuntimeClient | undefined;
    let client: Client | undefined;
    const log = (msg: string) => console.log(`  ${msg}`);
    try {
      for (const h of lab.hosts) {
        created.push(ns(h));
        await wireHost(h, ns(h), lab.switches[0].ports[h.switchPort - 1].iface);
      }
      running = await startSwitch(lab.switches[0], { runDir, logLevel: "warn" });
      const p4info = await P4Info.load(`${root}/${LB_PROGRAM.p4infoJson}`);
      p4rt = await P4RuntimeClient.connect({
        address: running.grpcAddress,
        deviceId: lab.switches[0].deviceId,
        p4info,
        switchLog: running.files.output,
      });
      let t0 = performance.now();
      await p4rt.setPipeline({
        p4infoBinary: await Deno.readFile(`${root}/${LB_PROGRAM.p4infoBinary}`),
        bmv2Json: await Deno.readFile(`${root}/${LB_PROGRAM.bmv2Json}`),
      });
      log(`pipeline pushed in ${(performance.now() - t0).toFixed(0)} ms`);

      let state = initialLbState(lab, { slotCount: 16 });
      const entries = planLabEntries(lab, state);
      t0 = performance.now();
      await p4rt.writeEntries(UpdateType.INSERT, entries);
      log(`${entries.length} entries inserted in ${(performance.now() - t0).toFixed(0)} ms`);

      for (const h of lab.hosts.slice(1)) {
        pids.push(
          await spawnDetached(
            shell,
            ["python3", "-u", "-c", SERVER_PY, h.name, String(SERVICE_PORT), String(DIRECT_PORT)],
            {
              netns: ns(h),
              logFile: `${runDir}/${h.name}.log`,
              pidFile: `${runDir}/${h.name}.pid`,
            },
          ),
        );
      }
      await new Promise((r) => setTimeout(r, 500));
      client = new Client(ns(lab.hosts[0]));
      const vip = lab.loadBalancer.vip;

      // Plain L3: h1 -> h2's own address on a non-service port.
      const direct = await client.send(`open 10.0.2.10 ${DIRECT_PORT} 1`);
      assert.deepEqual(direct.results, ["ok"], "plain routed connection to h2");
      const directAsk = await client.send("ask");
      assert.deepEqual(directAsk.results, ["h2"]);

      // 20 connections through the VIP, one backend.
      const opened = await client.send(`open ${vip} ${SERVICE_PORT} 20`);
      assert.deepEqual(tally(opened.results), { ok: 20 });
      log(`20 connections through the VIP opened in ${opened.ms.toFixed(0)} ms`);
      const first = (await client.send("ask")).results.slice(1);
      assert.deepEqual(tally(first), { h2: 20 });

      // Add h3: established connections must stay on h2; new ones spread.
      const added = planAddBackend(state, lab.hosts[2]);
      state = added.state;
      await applyUpdates(p4rt, added.updates);
      const afterAdd = await client.send("ask");
      log(
        `after add: 20 answered in ${afterAdd.ms.toFixed(0)} ms (${
          (afterAdd.ms / 21).toFixed(2)
        } ms per request)`,
      );
      assert.deepEqual(tally(afterAdd.results.slice(1, 21)), { h2: 20 }, "no connection moved");
      assert.deepEqual(tally((await client.send(`open ${vip} ${SERVICE_PORT} 20`)).results), {
        ok: 20,
      });
      const mixed = (await client.send("ask")).results.slice(1);
      const onH3 = mixed.map((r, i) => r === "h3" ? i : -1).filter((i) => i >= 0);
      log(`after add, 40 connections: ${JSON.stringify(tally(mixed))}`);
      assert.deepEqual(tally(mixed.slice(0, 20)), { h2: 20 });
      assert.ok(onH3.length > 0 && onH3.length < 20, "new connections use both backends");

      // Migrate backend 1 (h2) to h3's address: exactly its connections move. The server did not
      // really move, so h3 resets them; h3's own connections keep working.
      const migration = planMigrateBackend(state, "h2", lab.hosts[2]);
      state = migration.state;
      t0 = performance.now();
      await applyUpdates(p4rt, migration.updates);
      const flipMs = performance.now() - t0;
      log(
        `migration: ${migration.updates.map((u) => u.type).join(", ")} in ${flipMs.toFixed(1)} ms`,
      );
      const afterMigration = (await client.send("ask")).results;
      assert.equal(afterMigration[0], "h2", "plain routed connection unaffected");
      const moved = afterMigration.slice(1);
      log(`after migration: ${JSON.stringify(tally(moved))}`);
      moved.forEach((r, i) => {
        if (mixed[i] === "h3") assert.equal(r, "h3", `connection ${i} of backend 2 stays`);
        else assert.match(r, /^ERR:/, `connection ${i} of backend 1 moved to h3 (reset there)`);
      });
      const fresh = await client.send(`open ${vip} ${SERVICE_PORT} 10`);
      assert.deepEqual(tally(fresh.results), { ok: 10 });
      const freshAsk = (await client.send("ask")).results.slice(41);
      assert.deepEqual(tally(freshAsk), { h3: 10 }, "every new connection now lands on h3");

      // A client sending IPv4 options (ihl 6): both checksums must still come out right.
      const withOptions = await client.send(`open ${vip} ${SERVICE_PORT} 1 ipopt`);
      assert.deepEqual(withOptions.results, ["ok"]);
      assert.deepEqual((await client.send("ask")).results.slice(51), ["h3"]);

      // A backend's ICMP error about a client's segment is translated like its segments (as a NAT
      // does): it reaches the client from the VIP, quoting the VIP, so the client's kernel matches
      // it to the socket. Here h3 refuses new connections: the client learns at once (host
      // unreachable), instead of retrying its SYN until its timeout.
      const refuse = "add table inet p4t_refuse; add chain inet p4t_refuse in " +
        "{ type filter hook input priority -300; policy accept; }; add rule inet p4t_refuse in " +
        `tcp dport ${SERVICE_PORT} tcp flags syn reject with icmpx type host-unreachable`;
      await shell.run(inNetns(ns(lab.hosts[2]), ["nft", refuse]));
      const refused = await client.send(`open ${vip} ${SERVICE_PORT} 1`);
      await shell.run(inNetns(ns(lab.hosts[2]), ["nft", "delete", "table", "inet", "p4t_refuse"]));
      assert.deepEqual(refused.results, ["ERR:OSError"], "the SYN's ICMP error reached the client");
      assert.ok(refused.ms < 1000, `refused at once, not timed out (${refused.ms.toFixed(0)} ms)`);

      // UDP to the VIP is dropped and counted.
      const drops = async () =>
        (await p4rt!.readCounter(COUNTERS.drops, DROP_REASONS.vipNotService))[0].packets;
      const before = await drops();
      await client.send(`udp ${vip} ${SERVICE_PORT}`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await drops(), before + 1n, "UDP to the VIP counted as vip_not_service");

      const perBackend = await p4rt.readCounter(COUNTERS.backendPackets);
      const events = await p4rt.readCounter(COUNTERS.flowEvents);
      log(`backend packets: id1=${perBackend[1].packets} id2=${perBackend[2].packets}`);
      log(
        `flow events: new=${events[FLOW_EVENTS.newFlow].packets} hit=${
          events[FLOW_EVENTS.hit].packets
        } miss=${events[FLOW_EVENTS.miss].packets}`,
      );
      assert.ok(events[FLOW_EVENTS.newFlow].packets >= 51n, "a SYN per connection through the VIP");
    } finally {
      await client?.close().catch(() => {});
      p4rt?.close();
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      if (running) await stopSwitch(running);
      for (const name of created) {
        await shell.run(["ip", "netns", "del", name], { check: false });
      }
      // Switch-side veth ends vanish with their peers; delete any left from a failed setup.
      for (const p of lab.switches[0].ports) {
        await shell.run(["ip", "link", "del", p.iface], { check: false });
      }
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
  },
});
