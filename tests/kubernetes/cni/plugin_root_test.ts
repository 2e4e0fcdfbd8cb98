/**
 * The plugin as CRI-O runs it: the installed launcher, an empty environment plus the CNI
 * variables, the network config on stdin, against a real topology (parking namespaces, veths)
 * and "pods" that are network namespaces this test creates. Needs root.
 */
import assert from "node:assert/strict";
import { allocationsPath } from "../../../lib/kubernetes/cni/allocate.ts";
import { installCniPlugin, netConfList } from "../../../lib/kubernetes/cni/install.ts";
import { addResult } from "../../../lib/kubernetes/cni/plan.ts";
import { releaseReservation, reserveSlot } from "../../../lib/kubernetes/cni/state.ts";
import type { Host } from "../../../lib/lab/types.ts";
import { up } from "../../../lib/topology/apply.ts";
import { down } from "../../../lib/topology/teardown.ts";
import { capTest } from "../../_caps.ts";
import { leftovers, output, randomTag, sh, testLab } from "../../topology/_lab.ts";

interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the launcher like CRI-O: `env -i`, the CNI variables, the config on stdin. */
async function runPlugin(
  plugin: string,
  stdin: string,
  vars: Record<string, string>,
): Promise<PluginRun> {
  const child = new Deno.Command("env", {
    args: ["-i", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), plugin],
    cwd: "/",
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function inNs(netns: string, ...args: string[]): Promise<string> {
  return sh("nsenter", `--net=${netns}`, "--", ...args);
}

/** The interface's MAC, IPv4 addresses, default route and gateway ARP entry in a namespace. */
async function ifaceState(netns: string, dev: string, host: Host) {
  const [link] = JSON.parse(await inNs(netns, "ip", "-j", "addr", "show", "dev", dev));
  return {
    mac: link.address,
    up: link.flags.includes("UP"),
    addrs: link.addr_info.map((a: { local: string; prefixlen: number }) =>
      `${a.local}/${a.prefixlen}`
    ),
    route: (await inNs(netns, "ip", "route", "show", "default")).trim(),
    arp: (await inNs(netns, "ip", "neigh", "show", host.gateway)).trim(),
    ipv6Off: (await inNs(netns, "sysctl", "-n", `net.ipv6.conf.${dev}.disable_ipv6`)).trim(),
  };
}

function slotState(host: Host, dev = host.iface) {
  return {
    mac: host.mac,
    up: true,
    addrs: [`${host.ip}/${host.prefix}`],
    route: `default via ${host.gateway} dev ${dev}`,
    arp: `${host.gateway} dev ${dev} lladdr ${host.gatewayMac} PERMANENT`,
    ipv6Off: "1",
  };
}

async function hasLink(netns: string, dev: string): Promise<boolean> {
  return (await output("nsenter", [`--net=${netns}`, "--", "ip", "link", "show", "dev", dev]))
    .includes(dev);
}

capTest({
  name:
    "p4cf CNI plugin: ADD/CHECK/DEL with the real launcher, pods in namespaces, down leaves nothing",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("kubernetes");
    const tag = randomTag();
    // Pods a and c are named namespaces (as CRI-O pins them); pod b's exists only while a process
    // holds it, as /proc/<pid>/ns/net.
    const pods = ["a", "c"].map((p) => `p4t-cni-${tag}-${p}`);
    let sleeper: Deno.ChildProcess | undefined;
    const host = (name: string) => lab.hosts.find((h) => h.name === name)!;
    const parking = (h: Host) => `/run/netns/${h.netns}`;
    try {
      const { plugin } = await installCniPlugin({
        lab,
        binDir: `${runRoot}/cni-bin`,
        confDir: `${runRoot}/net.d`,
      });
      const conf = JSON.stringify({
        ...netConfList(lab).plugins[0],
        cniVersion: "1.0.0",
        name: netConfList(lab).name,
      });
      await up(lab);
      for (const p of pods) await sh("ip", "netns", "add", p);
      sleeper = new Deno.Command("unshare", {
        args: ["--net", "sleep", "600"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const vars = (command: string, pod: string, netns: string) => ({
        CNI_COMMAND: command,
        CNI_CONTAINERID: `cid-${pod}`,
        CNI_NETNS: netns,
        CNI_IFNAME: "eth0",
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=p4t;K8S_POD_NAME=${pod};K8S_POD_UID=u`,
        CNI_PATH: `${runRoot}/cni-bin`,
      });
      const nsA = `/var/run/netns/${pods[0]}`;
      const nsB = `/proc/${sleeper.pid}/ns/net`;
      const nsC = `/var/run/netns/${pods[1]}`;
      const [h2, h3, h5] = [host("h2"), host("h3"), host("h5")];

      // ADD: pod a of workload server gets h2, configured exactly like the slot.
      const t0 = performance.now();
      const addA = await runPlugin(plugin, conf, vars("ADD", "server-6b7-aaaaa", nsA));
      const addMs = performance.now() - t0;
      assert.equal(addA.code, 0, addA.stdout + addA.stderr);
      assert.deepEqual(
        JSON.parse(addA.stdout),
        addResult("1.0.0", h2, { netns: nsA, ifname: "eth0" }),
      );
      assert.deepEqual(await ifaceState(nsA, "eth0", h2), slotState(h2));
      assert.equal(await hasLink(parking(h2), "eth0"), false, "the slot's interface left parking");
      assert.match(await inNs(nsA, "ip", "link", "show", "dev", "lo"), /UP/);
      assert.equal((await inNs(nsA, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6")).trim(), "1");

      // Still cabled to the switch port: one datagram to the VIP is one frame on port 2, no ARP.
      const rx = `/sys/class/net/${lab.switches[0].ports[1].iface}/statistics/rx_packets`;
      const before = Number(await Deno.readTextFile(rx));
      await inNs(nsA, "bash", "-c", `echo probe > /dev/udp/${lab.loadBalancer.vip}/9`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(Number(await Deno.readTextFile(rx)) - before, 1);

      // ADD again: the same result, nothing changed.
      const again = await runPlugin(plugin, conf, vars("ADD", "server-6b7-aaaaa", nsA));
      assert.deepEqual([again.code, again.stdout], [0, addA.stdout]);

      // CHECK passes.
      const check = await runPlugin(plugin, conf, vars("CHECK", "server-6b7-aaaaa", nsA));
      assert.deepEqual([check.code, check.stdout], [0, ""], check.stderr);

      // Pod b of the same workload gets the next slot, h3 (namespace given by pid).
      const ownNs = await Deno.readLink("/proc/self/ns/net");
      while (await Deno.readLink(nsB).catch(() => ownNs) === ownNs) {
        await new Promise((r) => setTimeout(r, 10)); // unshare has not made it yet
      }
      const addB = await runPlugin(plugin, conf, vars("ADD", "server-6b7-bbbbb", nsB));
      assert.equal(addB.code, 0, addB.stdout + addB.stderr);
      assert.equal(JSON.parse(addB.stdout).ips[0].address, "10.0.3.3/24");
      assert.deepEqual(await ifaceState(nsB, "eth0", h3), slotState(h3));

      // A reservation wins over the pool (which would give h4).
      await reserveSlot(lab.runDir!, "server-restored", "h5");
      const addC = await runPlugin(plugin, conf, vars("ADD", "server-restored", nsC));
      assert.equal(addC.code, 0, addC.stdout + addC.stderr);
      assert.deepEqual(await ifaceState(nsC, "eth0", h5), slotState(h5));

      // DEL: back in parking, configured again; the pod has no eth0 any more. Twice is fine.
      const delA = await runPlugin(plugin, conf, vars("DEL", "server-6b7-aaaaa", nsA));
      assert.deepEqual([delA.code, delA.stdout], [0, ""], delA.stderr);
      assert.equal(await hasLink(nsA, "eth0"), false);
      assert.deepEqual(await ifaceState(parking(h2), "eth0", h2), slotState(h2));
      const delA2 = await runPlugin(plugin, conf, vars("DEL", "server-6b7-aaaaa", nsA));
      assert.deepEqual([delA2.code, delA2.stdout], [0, ""]);

      // Pod b's namespace dies with its process, taking the veth pair along: DEL re-creates it.
      sleeper.kill("SIGKILL");
      await sleeper.status;
      sleeper = undefined;
      const delB = await runPlugin(plugin, conf, vars("DEL", "server-6b7-bbbbb", nsB));
      assert.deepEqual([delB.code, delB.stdout], [0, ""], delB.stderr);
      assert.match(delB.stderr, /re-created .* lab up/);
      assert.deepEqual(await ifaceState(parking(h3), "eth0", h3), slotState(h3));
      const swSide = JSON.parse(
        await sh("ip", "-j", "link", "show", "dev", lab.switches[0].ports[2].iface),
      );
      assert.ok(swSide[0].flags.includes("UP"));

      const delC = await runPlugin(plugin, conf, vars("DEL", "server-restored", nsC));
      assert.equal(delC.code, 0, delC.stderr);
      assert.deepEqual(await ifaceState(parking(h5), "eth0", h5), slotState(h5));
      assert.equal(await releaseReservation(lab.runDir!, "server-restored"), "h5");
      assert.deepEqual(JSON.parse(await Deno.readTextFile(allocationsPath(lab.runDir!))), {});
      const log = (await Deno.readTextFile(`${lab.runDir}/cni/cni.log`)).trim().split("\n");
      assert.equal(log.length, 9);
      console.log(`p4cf CNI ADD through the launcher: ${addMs.toFixed(0)} ms`);

      const gone = await down(lab);
      assert.deepEqual(gone.failed, []);
      assert.deepEqual(await leftovers(lab, false), []);
    } finally {
      if (sleeper) {
        sleeper.kill("SIGKILL");
        await sleeper.status;
      }
      await down(lab).catch(() => {});
      for (const p of pods) await output("ip", ["netns", "del", p]);
      const left = (await output("ip", ["netns", "list"])).split("\n")
        .filter((l) => l.startsWith(`p4t-cni-${tag}`));
      await Deno.remove(runRoot, { recursive: true });
      assert.deepEqual(left, [], "the test's pod namespaces are gone");
    }
  },
});
