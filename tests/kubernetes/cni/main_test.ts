/**
 * The whole plugin call (`runCni`) without root: a recording shell stands in for `ip`, `nsenter`
 * and friends, while the state files are real ones in a temporary run directory.
 */
import assert from "node:assert/strict";
import { allocationsPath, cniLogPath } from "../../../lib/kubernetes/cni/allocate.ts";
import { runCni } from "../../../lib/kubernetes/cni/main.ts";
import { addArgv, addResult, delArgv, recreateVethArgv } from "../../../lib/kubernetes/cni/plan.ts";
import {
  readAllocations,
  readReservations,
  releaseReservation,
  reserveSlot,
} from "../../../lib/kubernetes/cni/state.ts";
import { UserError } from "../../../lib/errors.ts";
import type { Lab } from "../../../lib/lab/types.ts";
import { RecordingShell, type ScriptedReply } from "../../../lib/shell.ts";
import { testLab } from "../../topology/_lab.ts";
import { cniEnv, confText } from "./_fixtures.ts";

const lines = (argvs: string[][]) => argvs.map((a) => a.join(" "));

async function withLab(fn: (lab: Lab) => Promise<void>): Promise<void> {
  const { lab, runRoot } = await testLab("kubernetes");
  try {
    await fn(lab);
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
}

async function call(
  lab: Lab,
  env: Record<string, string>,
  replies: ScriptedReply[] = [],
  stdin = confText(lab),
) {
  const shell = new RecordingShell(replies);
  const warnings: string[] = [];
  const out = await runCni(env, stdin, { shell, warn: (m) => warnings.push(m) });
  return { ...out, shell, warnings, json: out.stdout ? JSON.parse(out.stdout) : undefined };
}

const host = (lab: Lab, name: string) => lab.hosts.find((h) => h.name === name)!;

Deno.test("runCni ADD: probes the slot, moves it, records it, logs it; again: same result", async () => {
  await withLab(async (lab) => {
    const env = cniEnv("ADD", "server-7d9-abcde");
    const pod = { netns: env.CNI_NETNS, ifname: "eth0" };
    const first = await call(lab, env);
    assert.equal(first.exitCode, 0, first.stdout);
    assert.deepEqual(first.json, addResult("1.0.0", host(lab, "h2"), pod));
    assert.deepEqual(first.shell.lines(), [
      `nsenter --net=/run/netns/${lab.id}-h2 -- ip link show dev eth0`,
      ...lines(addArgv(lab, host(lab, "h2"), pod)),
    ]);
    assert.deepEqual(await readAllocations(lab.runDir!), {
      h2: {
        pod: "server-7d9-abcde",
        namespace: "default",
        containerId: "cid-server-7d9-abcde",
        netns: env.CNI_NETNS,
        ifname: "eth0",
      },
    });
    const again = await call(lab, env);
    assert.equal(again.stdout, first.stdout);
    assert.deepEqual(again.shell.calls, [], "a repeated ADD runs nothing");

    const log = (await Deno.readTextFile(cniLogPath(lab.runDir!))).trim().split("\n");
    assert.equal(log.length, 2);
    assert.match(
      log[0],
      /^\d{4}-\d\d-\d\dT\S+Z ADD pod=default\/server-7d9-abcde container=cid-server-7 slot=h2 ok \d+ms$/,
    );
    assert.equal((await Deno.stat(allocationsPath(lab.runDir!))).mode! & 0o777, 0o600);
  });
});

Deno.test("runCni ADD: the pool in order, a reservation, then a full pool (code 100)", async () => {
  await withLab(async (lab) => {
    const slotOf = async (pod: string) => (await call(lab, cniEnv("ADD", pod))).json;
    assert.equal((await slotOf("server-a")).ips[0].address, "10.0.2.2/24");
    await reserveSlot(lab.runDir!, "server-restored", "h4");
    assert.equal((await slotOf("server-b")).ips[0].address, "10.0.3.3/24");
    assert.equal((await slotOf("server-c")).ips[0].address, "10.0.5.5/24", "h4 is reserved");
    assert.equal((await slotOf("server-restored")).ips[0].address, "10.0.4.4/24");
    const full = await call(lab, cniEnv("ADD", "server-d"));
    assert.equal(full.exitCode, 1);
    assert.equal(full.json.code, 100);
    assert.equal(full.json.cniVersion, "1.0.0");
    assert.match(full.json.msg, /No free slot for pod default\/server-d/);
    assert.match(full.json.details, /workloads\.server\.hosts/);
    assert.deepEqual(full.shell.calls, []);
    assert.match(
      await Deno.readTextFile(cniLogPath(lab.runDir!)),
      /ADD pod=default\/server-d container=cid-server-d slot=- error 100: No free slot/,
    );
  });
});

Deno.test("runCni ADD: a failing command puts the slot back and frees it (code 105)", async () => {
  await withLab(async (lab) => {
    const env = cniEnv("ADD", "server-a");
    const out = await call(lab, env, [{
      match: /pod-server-a -- ip addr add/,
      result: { code: 2, stderr: "RTNETLINK answers: Permission denied" },
    }]);
    assert.equal(out.exitCode, 1);
    assert.equal(out.json.code, 105);
    assert.match(out.json.msg, /Could not give slot h2 to pod server-a: `nsenter .* ip addr add/);
    assert.match(out.json.msg, /Permission denied/);
    const pod = { netns: env.CNI_NETNS, ifname: "eth0" };
    const back = [
      `nsenter --net=${env.CNI_NETNS} -- ip link show dev eth0`,
      ...lines(delArgv(lab, host(lab, "h2"), pod)),
    ];
    assert.deepEqual(out.shell.lines().slice(-back.length), back);
    assert.deepEqual(out.warnings, []);
    assert.deepEqual(await readAllocations(lab.runDir!), {});
  });
});

Deno.test("runCni ADD: a slot missing from its parking namespace is code 103", async () => {
  await withLab(async (lab) => {
    const out = await call(lab, cniEnv("ADD", "server-a"), [{
      match: /link show/,
      result: { code: 1 },
    }]);
    assert.equal(out.json.code, 103);
    assert.match(out.json.details, new RegExp(`deno task lab up ${lab.name}`));
    assert.deepEqual(await readAllocations(lab.runDir!), {});
  });
});

Deno.test("runCni DEL: moves the slot back and frees it; unknown containers succeed", async () => {
  await withLab(async (lab) => {
    const add = cniEnv("ADD", "server-a");
    await call(lab, add);
    const del = await call(lab, { ...add, CNI_COMMAND: "DEL" });
    assert.equal(del.exitCode, 0);
    assert.equal(del.stdout, "");
    const pod = { netns: add.CNI_NETNS, ifname: "eth0" };
    assert.deepEqual(del.shell.lines(), [
      `test -e /run/netns/${lab.id}-h2`,
      `nsenter --net=${add.CNI_NETNS} -- ip link show dev eth0`,
      ...lines(delArgv(lab, host(lab, "h2"), pod)),
    ]);
    assert.deepEqual(await readAllocations(lab.runDir!), {});
    const twice = await call(lab, { ...add, CNI_COMMAND: "DEL" });
    assert.deepEqual([twice.exitCode, twice.stdout, twice.shell.calls], [0, "", []]);
    assert.match(
      await Deno.readTextFile(cniLogPath(lab.runDir!)),
      /DEL .* slot=- ok \(no slot held\)/,
    );
  });
});

Deno.test("runCni DEL: a vanished veth pair is re-created, with a note about BMv2", async () => {
  await withLab(async (lab) => {
    const add = cniEnv("ADD", "server-a");
    await call(lab, add);
    const del = await call(lab, { ...add, CNI_COMMAND: "DEL", CNI_NETNS: "" }, [
      { match: /link show/, result: { code: 1 } },
    ]);
    assert.equal(del.exitCode, 0, del.stdout);
    assert.deepEqual(del.shell.lines(), [
      `test -e /run/netns/${lab.id}-h2`,
      `nsenter --net=${add.CNI_NETNS} -- ip link show dev eth0`,
      `nsenter --net=/run/netns/${lab.id}-h2 -- ip link show dev eth0`,
      `ip link show dev ${lab.id}-s1-eth2`,
      ...lines(recreateVethArgv(lab, host(lab, "h2"))),
    ]);
    assert.equal(del.warnings.length, 1);
    assert.match(del.warnings[0], /re-created .*BMv2 may have lost port 2 of s1.*lab up/);
    assert.deepEqual(await readAllocations(lab.runDir!), {});
  });
});

Deno.test("runCni DEL: with the lab down, the slot is just released", async () => {
  await withLab(async (lab) => {
    const add = cniEnv("ADD", "server-a");
    await call(lab, add);
    const del = await call(lab, { ...add, CNI_COMMAND: "DEL" }, [
      { match: /^test -e/, result: { code: 1 } },
    ]);
    assert.equal(del.exitCode, 0);
    assert.deepEqual(del.shell.calls.length, 1);
    assert.match(del.warnings[0], /parking namespace .* is gone/);
    assert.deepEqual(await readAllocations(lab.runDir!), {});
  });
});

Deno.test("runCni CHECK: compares the pod's interface with the slot", async () => {
  await withLab(async (lab) => {
    const add = cniEnv("ADD", "client-0");
    await call(lab, add);
    const addr = JSON.stringify([{
      flags: ["UP"],
      address: "02:00:0a:00:01:01",
      addr_info: [{ family: "inet", local: "10.0.1.1", prefixlen: 24 }],
    }]);
    const route = JSON.stringify([{ dst: "default", gateway: "10.0.1.254", dev: "eth0" }]);
    const replies = (a: string) => [
      { match: /addr show/, result: { stdout: a } },
      { match: /route show default/, result: { stdout: route } },
    ];
    const ok = await call(lab, { ...add, CNI_COMMAND: "CHECK" }, replies(addr));
    assert.deepEqual([ok.exitCode, ok.stdout], [0, ""]);
    const bad = await call(
      lab,
      { ...add, CNI_COMMAND: "CHECK" },
      replies(addr.replace("01:01", "09:09")),
    );
    assert.equal(bad.json.code, 104);
    assert.match(bad.json.msg, /client-0's slot h1 is misconfigured: eth0 has MAC/);
    const unknown = await call(lab, { ...cniEnv("CHECK", "other") });
    assert.equal(unknown.json.code, 3);
  });
});

Deno.test("runCni: VERSION, and malformed calls answered as CNI errors", async () => {
  await withLab(async (lab) => {
    const version = await call(lab, { CNI_COMMAND: "VERSION" }, [], '{"cniVersion":"0.4.0"}');
    assert.deepEqual(version.json, { cniVersion: "0.4.0", supportedVersions: ["0.4.0", "1.0.0"] });
    const notJson = await call(lab, cniEnv("ADD", "server-a"), [], "{oops");
    assert.deepEqual([notJson.exitCode, notJson.json.code, notJson.json.cniVersion], [
      1,
      6,
      "1.0.0",
    ]);
    const badNetns = await call(lab, cniEnv("ADD", "server-a", { CNI_NETNS: "tmp/ns" }));
    assert.equal(badNetns.json.code, 4);
    const badLab = await call(
      lab,
      cniEnv("ADD", "server-a"),
      [],
      confText(lab, "0.4.0").replace(lab.file, "/nonexistent/lab.yaml"),
    );
    assert.deepEqual([badLab.json.code, badLab.json.cniVersion], [7, "0.4.0"]);
    const delOfGoneLab = await call(
      lab,
      cniEnv("DEL", "server-a"),
      [],
      confText(lab).replace(lab.file, "/nonexistent/lab.yaml"),
    );
    assert.equal(delOfGoneLab.exitCode, 0, "a DEL never fails for good");
  });
});

Deno.test("reserveSlot/releaseReservation: one pod per slot, released by name", async () => {
  await withLab(async (lab) => {
    const runDir = lab.runDir!;
    await reserveSlot(runDir, "server-r", "h3");
    await reserveSlot(runDir, "server-r", "h3"); // idempotent
    await assert.rejects(() => reserveSlot(runDir, "other", "h3"), UserError);
    await call(lab, cniEnv("ADD", "server-a"));
    await assert.rejects(
      () => reserveSlot(runDir, "other", "h2"),
      (e) => e instanceof UserError && /held by pod server-a/.test(e.message),
    );
    assert.deepEqual(await readReservations(runDir), { "server-r": "h3" });
    assert.equal(await releaseReservation(runDir, "server-r"), "h3");
    assert.equal(await releaseReservation(runDir, "server-r"), undefined);
    assert.deepEqual(await readReservations(runDir), {});
  });
});

Deno.test("runCni: concurrent ADDs take the state lock in turn and get distinct slots", async () => {
  await withLab(async (lab) => {
    const pods = ["server-a", "server-b", "server-c", "server-d"];
    const outs = await Promise.all(pods.map((p) => call(lab, cniEnv("ADD", p))));
    assert.ok(outs.every((o) => o.exitCode === 0));
    assert.deepEqual(outs.map((o) => o.json.ips[0].address).sort(), [
      "10.0.2.2/24",
      "10.0.3.3/24",
      "10.0.4.4/24",
      "10.0.5.5/24",
    ]);
    const allocations = await readAllocations(lab.runDir!);
    assert.deepEqual(Object.values(allocations).map((a) => a.pod).sort(), pods);
  });
});
