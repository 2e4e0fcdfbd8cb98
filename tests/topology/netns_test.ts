import assert from "node:assert/strict";
import { up } from "../../lib/topology/apply.ts";
import { status } from "../../lib/topology/status.ts";
import { down } from "../../lib/topology/teardown.ts";
import { capTest } from "../_caps.ts";
import { leftovers, sh, testLab } from "./_lab.ts";

function inNs(netns: string, ...args: string[]): Promise<string> {
  return sh("nsenter", `--net=/run/netns/${netns}`, "--", ...args);
}

capTest({
  name:
    "process-migration topology: real namespaces, veths, addresses, routes and static ARP; down leaves nothing",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration");
    try {
      const t0 = performance.now();
      const result = await up(lab);
      const upMs = performance.now() - t0;
      assert.equal(result.alreadyUp, false);
      assert.equal(result.skipped.length, 2, "no starter given: the switch steps are skipped");

      const netnsList = await sh("ip", "netns", "list");
      for (const h of lab.hosts) {
        assert.match(netnsList, new RegExp(`^${h.netns}\\b`, "m"));
        const addr = JSON.parse(await inNs(h.netns!, "ip", "-j", "addr", "show", "dev", "eth0"));
        assert.equal(addr[0].address, h.mac);
        assert.ok(addr[0].flags.includes("UP"));
        assert.deepEqual(
          addr[0].addr_info.map((a: { local: string; prefixlen: number }) =>
            `${a.local}/${a.prefixlen}`
          ),
          [`${h.ip}/${h.prefix}`],
        );
        assert.match(
          await inNs(h.netns!, "ip", "route", "show", "default"),
          new RegExp(`default via ${h.gateway} dev eth0`),
        );
        assert.match(
          await inNs(h.netns!, "ip", "neigh", "show", h.gateway),
          new RegExp(`lladdr ${h.gatewayMac} PERMANENT`),
        );
        assert.equal(
          (await inNs(h.netns!, "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6")).trim(),
          "1",
        );
        assert.match(await inNs(h.netns!, "ethtool", "-k", "eth0"), /^tx-checksumming: off/m);
        const port = lab.switches[0].ports.find((p) => p.port === h.switchPort)!;
        const root = JSON.parse(await sh("ip", "-j", "addr", "show", "dev", port.iface));
        assert.ok(root[0].flags.includes("UP"));
        assert.deepEqual(
          root[0].addr_info ?? [],
          [],
          "the switch side has no address (the kernel must not answer)",
        );
        assert.notEqual(
          root[0].address,
          port.mac,
          "the switch side keeps its own MAC so the kernel drops frames for the port MAC",
        );
        assert.equal(
          (await sh("sysctl", "-n", `net.ipv6.conf.${port.iface}.disable_ipv6`)).trim(),
          "1",
        );
        assert.match(await sh("ethtool", "-k", port.iface), /^tx-checksumming: off/m);
      }

      // One datagram from h1 to h2 reaches h1's switch port as exactly one frame: no ARP, no IPv6.
      const [h1, h2] = lab.hosts;
      const rxFile = `/sys/class/net/${lab.switches[0].ports[0].iface}/statistics/rx_packets`;
      const before = Number(await Deno.readTextFile(rxFile));
      await inNs(h1.netns!, "bash", "-c", `echo probe > /dev/udp/${h2.ip}/9`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(Number(await Deno.readTextFile(rxFile)) - before, 1);

      const again = await up(lab);
      assert.equal(again.alreadyUp, true);
      const st = await status(lab);
      assert.equal(st.phase, "up");
      assert.deepEqual(st.problems, []);
      assert.deepEqual(
        st.hosts.map((h) => h.addresses),
        lab.hosts.map((h) => [`${h.ip}/${h.prefix}`]),
      );
      assert.ok(st.switches[0].ports.every((p) => p.present && p.up));
      assert.equal(st.switches[0].running, false);

      const t1 = performance.now();
      const gone = await down(lab);
      const downMs = performance.now() - t1;
      assert.deepEqual(gone.failed, []);
      assert.deepEqual(await leftovers(lab, false), []);
      console.log(
        `process-migration topology (3 hosts, no switch): up ${upMs.toFixed(0)} ms, down ${
          downMs.toFixed(0)
        } ms`,
      );
      assert.ok(upMs < 5000 && downMs < 3000, `too slow: up ${upMs} ms, down ${downMs} ms`);
      const twice = await down(lab);
      assert.deepEqual([twice.removed, twice.failed], [[], []]);
      assert.equal((await status(lab)).phase, "down");
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name: "process-migration-4sw topology: switch-to-switch veths come up and go away",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration-4sw");
    try {
      await up(lab);
      const links = await sh("ip", "-o", "link", "show");
      for (const sw of lab.switches) {
        for (const p of sw.ports) assert.match(links, new RegExp(`: ${p.iface}@`));
      }
      await down(lab);
      assert.deepEqual(await leftovers(lab, false), []);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});
