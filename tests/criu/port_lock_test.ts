import assert from "node:assert/strict";
import {
  nftStdinArgv,
  PORT_LOCK_TABLE,
  portLockArgv,
  portLockScript,
  portUnlockArgv,
  unlockPorts,
} from "../../lib/criu/port_lock.ts";
import { icmpUnlimitedArgv } from "../../lib/net/icmp_unlimited.ts";
import { RecordingShell } from "../../lib/shell.ts";

Deno.test("port lock: one table refusing the ports' segments in, dropping theirs out", () => {
  const script = portLockScript([12345, 40000, 12345]);
  assert.match(script, /^table inet p4cf_lock \{\}\ndelete table inet p4cf_lock\n/);
  assert.match(
    script,
    /hook input priority -300;[^\n]*\n\s*meta mark != 0xc114 tcp dport \{ 12345, 40000 \} reject with icmpx type host-unreachable/,
  );
  assert.match(
    script,
    /hook output priority -300;[^\n]*\n\s*meta mark != 0xc114 tcp sport \{ 12345, 40000 \} drop/,
  );
  assert.match(portLockScript([80], { refuse: false }), /tcp dport \{ 80 \} drop/);
});

Deno.test("port lock: a fresh lock (table removed beforehand) only creates its table", () => {
  const script = portLockScript([12345], { fresh: true });
  assert.match(script, /^table inet p4cf_lock \{\n/);
  assert.doesNotMatch(script, /delete/);
  assert.equal(
    script.split("\n").slice(2).join("\n"),
    portLockScript([12345]).split("\n").slice(4).join("\n"),
  );
  assert.deepEqual(nftStdinArgv("pm-h2"), [
    "nsenter",
    "--net=/run/netns/pm-h2",
    "--",
    "nft",
    "-f",
    "-",
  ]);
});

Deno.test("port lock: nothing to lock is an error, not a table that locks nothing", () => {
  assert.throws(() => portLockScript([]), /no TCP port/);
  assert.throws(() => portLockScript([0, 70000]), /no TCP port/);
});

Deno.test("port lock: runs in the source namespace; unlocking twice is no error", async () => {
  assert.deepEqual(portLockArgv("pm-h2", [1]).slice(0, 3), [
    "nsenter",
    "--net=/run/netns/pm-h2",
    "--",
  ]);
  assert.deepEqual(portUnlockArgv(undefined), ["nft", "delete", "table", "inet", PORT_LOCK_TABLE]);
  const locked = new RecordingShell();
  assert.deepEqual(await unlockPorts(locked, "pm-h2"), [`nft table inet ${PORT_LOCK_TABLE}`]);
  assert.deepEqual(locked.lines(), [
    "nsenter --net=/run/netns/pm-h2 -- nft delete table inet p4cf_lock",
  ]);
  const gone = new RecordingShell([{
    match: /nft delete/,
    result: { code: 1, stderr: "Error: Could not process rule: No such file or directory" },
  }]);
  assert.deepEqual(await unlockPorts(gone, "pm-h2"), []);
  const failing = new RecordingShell([{
    match: /nft delete/,
    result: { code: 1, stderr: "Error: Operation not permitted" },
  }]);
  await assert.rejects(unlockPorts(failing, "pm-h2"), /Operation not permitted/);
});

Deno.test("icmp limits: one sysctl call lifting the namespace's three limits", () => {
  const argv = icmpUnlimitedArgv();
  assert.deepEqual(argv.slice(0, 3), ["sysctl", "-q", "-w"]);
  assert.ok(argv.includes("net.ipv4.icmp_ratelimit=0"));
  assert.equal(argv.length, 6);
});
