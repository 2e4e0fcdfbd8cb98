import assert from "node:assert/strict";
import {
  describeProbes,
  parseCriuIptablesLocks,
  parseCriuLockTables,
  parseListeners,
  parseProbeOutput,
  probeVip,
  vipProbeScript,
} from "../../lib/exercises/probes.ts";
import type { Lab } from "../../lib/lab/types.ts";
import { RecordingShell } from "../../lib/shell.ts";

Deno.test("the probe script opens its connections at once, each bounded in time", async () => {
  const script = vipProbeScript("10.0.0.100", 12345, 4, 3);
  assert.match(script, /for i in \$\(seq 1 4\); do/);
  assert.match(script, /timeout 3 bash -c 'exec 3<>\/dev\/tcp\/10\.0\.0\.100\/12345 \|\| exit 9;/);
  assert.match(script, /read -r -t 3 l <&3 \|\| exit 8/);
  assert.match(script, /\) &\ndone\nwait$/);
  // The script is valid bash.
  const check = await new Deno.Command("bash", { args: ["-n", "-c", script] }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
});

Deno.test("probe output: answers, refused, unanswered, and silent connections", () => {
  const out = [
    'probe 2 0 {"conn":5,"count":1,"total":9}',
    "probe 1 9 ",
    "probe 3 8",
    "garbage",
    "probe 9 0 out of range",
  ].join("\n");
  const results = parseProbeOutput(out, 4);
  assert.deepEqual(results, [
    { index: 1, answered: false, failure: "connect" },
    { index: 2, answered: true, answer: '{"conn":5,"count":1,"total":9}' },
    { index: 3, answered: false, failure: "answer" },
    { index: 4, answered: false, failure: "timeout" },
  ]);
  assert.equal(
    describeProbes(results),
    "1 of 4 connections answered (1 refused or unreachable, 1 connected but got no answer, " +
      "1 timed out)",
  );
  assert.equal(describeProbes(results.slice(1, 2)), "1 of 1 connections answered");
  // Exit 0 without an answer line is no answer.
  assert.equal(parseProbeOutput("probe 1 0 ", 1)[0].answered, false);
});

Deno.test("probeVip runs the script in the client host's namespace", async () => {
  const shell = new RecordingShell([{ match: /bash -c/, result: { stdout: "probe 1 0 {}\n" } }]);
  const lab = {
    name: "t",
    hosts: [{ name: "h1", netns: "t-h1" }],
    loadBalancer: { vip: "10.0.0.100", servicePort: 7 },
  } as unknown as Lab;
  const results = await probeVip(shell, lab, "h1", 1);
  assert.deepEqual(results, [{ index: 1, answered: true, answer: "{}" }]);
  assert.deepEqual(shell.calls[0].slice(0, 5), [
    "nsenter",
    "--net=/run/netns/t-h1",
    "--",
    "bash",
    "-c",
  ]);
  await assert.rejects(() => probeVip(shell, lab, "h9", 1), /no host h9/);
});

Deno.test("listeners, nftables and iptables locks are read from command output", () => {
  assert.deepEqual(
    parseListeners(
      "LISTEN 0      128          0.0.0.0:12345      0.0.0.0:*\n" +
        "LISTEN 0      128        10.0.3.3:12345      0.0.0.0:*\n",
    ),
    ["0.0.0.0:12345", "10.0.3.3:12345"],
  );
  assert.deepEqual(parseListeners(""), []);
  assert.deepEqual(
    parseCriuLockTables("table inet filter\ntable inet CRIU-1c3bdb40-9477-4364-b1\n"),
    ["nft table inet CRIU-1c3bdb40-9477-4364-b1"],
  );
  const iptables = [
    "-P INPUT ACCEPT",
    "-N CRIU",
    "-A INPUT -j CRIU",
    "-A OUTPUT -j CRIU",
    "-A CRIU -m mark --mark 0xc114 -j ACCEPT",
    "-A CRIU -j DROP",
  ].join("\n");
  assert.deepEqual(parseCriuIptablesLocks(iptables), [
    "iptables -D INPUT -j CRIU",
    "iptables -D OUTPUT -j CRIU",
    "iptables -F CRIU",
    "iptables -X CRIU",
  ]);
  assert.deepEqual(parseCriuIptablesLocks("-P INPUT ACCEPT\n"), []);
});
