/**
 * The Kubernetes tier: a real single-node cluster (the machine's etcd, kube-apiserver,
 * controller-manager, scheduler, kubelet, CRI-O with CRIU, runc) whose pods are cabled to a real
 * BMv2 by the lab's CNI plugin. The server pod migrates to a new pod with a new address and back
 * through the kubelet checkpoint API, the server Deployment is scaled 1 -> 3 -> 1 under traffic,
 * and `lab down` leaves nothing behind; the client's own log is the judge.
 */
import assert from "node:assert/strict";
import { ControllerApi } from "../../../lib/controller/api_client.ts";
import { requireAccess } from "../../../lib/kubernetes/access.ts";
import { KubeApi } from "../../../lib/kubernetes/api.ts";
import { labNamespace } from "../../../lib/kubernetes/namespace.ts";
import { controllerSwitchUpdate, migrateWorkload } from "../../../lib/migrate/lab_migration.ts";
import { PodDriver } from "../../../lib/migrate/pod_driver.ts";
import { runMigration } from "../../../lib/migrate/run.ts";
import { repoRoot } from "../../../lib/lab/paths.ts";
import type { Host, Lab } from "../../../lib/lab/types.ts";
import { silentProgress } from "../../../lib/progress.ts";
import { labDown, labUp } from "../../../lib/runtime/session.ts";
import { recoverLab } from "../../../lib/runtime/recover.ts";
import { computeDowntime, parseWorkloadLog } from "../../../lib/workloads/client_log.ts";
import { readPlacements } from "../../../lib/workloads/placements.ts";
import { capTest } from "../../_caps.ts";
import { leftovers, output, testLab, uniqueSwitchPorts } from "../../topology/_lab.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Mount points under a directory (the cluster's overlay, shm and netns mounts). */
async function mountsUnder(dir: string): Promise<string[]> {
  return (await output("findmnt", ["-rn", "-o", "TARGET"])).split("\n")
    .filter((m) => m.startsWith(`${dir}/`));
}

/** The lab's pod cgroups (`/p4cf-<id>` in any hierarchy). */
function labCgroups(lab: Lab): string[] {
  const found: string[] = [];
  for (const h of Deno.readDirSync("/sys/fs/cgroup")) {
    const dir = `/sys/fs/cgroup/${h.name}/p4cf-${lab.id}`;
    if (Deno.statSync(`/sys/fs/cgroup/${h.name}`).isDirectory) {
      try {
        Deno.statSync(dir);
        found.push(dir);
      } catch {
        // absent: good
      }
    }
  }
  return found;
}

/** Runs `main.ts <args>` as the CLI would and SIGKILLs it once it prints `marker`. */
async function runAndKill(args: string[], marker: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: repoRoot(),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let progress = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    progress += chunk;
    if (progress.includes(marker)) break;
  }
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL", progress);
  return progress;
}

function clusterProcesses(runRoot: string): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(runRoot) && !cmd.includes("deno test")) found.push(`${e.name}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return found;
}

capTest({
  name:
    "kubernetes lab: the server pod migrates to a new pod and back, scales 1-3-1, down leaves nothing",
  needs: ["netns", "criu", "podman", "bmv2", "kubernetes"],
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { lab, runRoot } = await testLab("kubernetes", (t) =>
      uniqueSwitchPorts(t).replace(
        'command: [counter_client, -H, "{vip}", -p, "{port}"]',
        'command: [counter_client, -H, "{vip}", -p, "{port}", -c, "20"]',
      ));
    const sysctls = await output("sysctl", [
      "vm.overcommit_memory",
      "kernel.panic",
      "kernel.panic_on_oops",
    ]);
    try {
      const up = await labUp(lab, { progress: silentProgress });
      const placed = Object.fromEntries(up.workloads.map((w) => [w.name, w.host]));
      assert.deepEqual(placed, { server: "h2", client: "h1" });

      // There and back: each time a new pod, a new slot and address.
      for (const to of ["h3", "h2"]) {
        const report = await migrateWorkload(lab, { workload: "server", settleMs: 1500 });
        assert.equal(
          report.outcome,
          "migrated",
          `${report.error ?? ""} ${JSON.stringify(report.phases)}`,
        );
        assert.equal(report.to, to);
        const d = report.downtime!;
        assert.equal(d.connections.length, 20, "every connection answered");
        assert.equal(d.anyBroken, false, `broken: ${d.brokenConnections.join(",")}`);
        assert.ok(d.countsContinuous, "each connection's counter continued");
        const cleanup = report.phases.find((p) => p.phase === "cleanup")?.note;
        console.log(
          `migration to ${to}: worst client outage ${d.maxDowntimeMs.toFixed(0)} ms, frozen ` +
            `${report.frozenMs.toFixed(0)} ms; ${cleanup}`,
        );
      }

      // Scaling follows: backends = Ready server pods' slots, connections unbroken.
      const access = await requireAccess(lab);
      using kube = await KubeApi.fromKubeconfig(access.kubeconfig);
      const controller = await ControllerApi.forLab(lab);
      const deployment = `/apis/apps/v1/namespaces/${labNamespace(lab)}/deployments/server`;
      for (const replicas of [3, 1]) {
        await kube.patch(deployment, { spec: { replicas } });
        const deadline = Date.now() + 90_000;
        let hosts: string[] = [];
        while (Date.now() < deadline) {
          hosts = (await controller.backends()).backends.map((b) => b.host);
          if (hosts.length === replicas) break;
          await sleep(500);
        }
        assert.equal(hosts.length, replicas, `backends ${hosts} for ${replicas} replicas`);
      }
      await sleep(1000);
      const client = (await readPlacements(lab.runDir!)).find((p) => p.name === "client")!;
      const records = parseWorkloadLog(await Deno.readTextFile(client.logFile), client.logFile);
      const all = computeDowntime(records, { migrationStartMs: 0 });
      assert.equal(all.anyBroken, false, "no connection broke while scaling");
    } finally {
      await labDown(lab, { progress: silentProgress });
      assert.deepEqual(await leftovers(lab), []);
      assert.deepEqual(await mountsUnder(runRoot), []);
      assert.deepEqual(clusterProcesses(runRoot), []);
      assert.deepEqual(labCgroups(lab), []);
      assert.equal(
        await output("sysctl", ["vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops"]),
        sysctls,
      );
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});

/** A Kubernetes lab's migration driver and switch update, to run with injected faults. */
async function podMigration(lab: Lab, to: Host, container = "server") {
  const runDir = lab.runDir!;
  const access = await requireAccess(lab);
  const api = await KubeApi.fromKubeconfig(access.kubeconfig);
  const checkpointApi = await KubeApi.fromKubeconfig(
    access.migratorKubeconfig ?? access.kubeconfig,
  );
  const placement = (await readPlacements(runDir)).find((p) => p.name === "server")!;
  const from = lab.hosts.find((h) => h.name === placement.host)!;
  const checkpointDir = await Deno.makeTempDir({ dir: runDir, prefix: "fault-" });
  const driver = new PodDriver({
    api,
    checkpointApi,
    access,
    runDir,
    labId: lab.id!,
    namespace: labNamespace(lab),
    pod: placement.pod!,
    container,
    from,
    to,
    checkpointDir,
    readyTimeoutMs: 20_000,
  });
  const switchUpdate = await controllerSwitchUpdate(lab);
  const result = await runMigration(driver, {
    progress: silentProgress,
    switchUpdate: () => switchUpdate(from, to),
  });
  api.close();
  checkpointApi.close();
  return { result, driver, from };
}

/** The client's answers after `since` (ms), and whether any connection broke. */
async function clientSince(lab: Lab, since: number) {
  const client = (await readPlacements(lab.runDir!)).find((p) => p.name === "client")!;
  const records = parseWorkloadLog(await Deno.readTextFile(client.logFile), client.logFile);
  return {
    answers: records.filter((r) => r.kind === "answer" && r.t > since).length,
    broken: records.some((r) => r.kind === "event"),
  };
}

capTest({
  name:
    "kubernetes lab: a killed lab up, a failed checkpoint, a failed restore and a killed migrate: the old pod serves on, or down cleans all",
  needs: ["netns", "criu", "podman", "bmv2", "kubernetes"],
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { lab, runRoot } = await testLab("kubernetes", uniqueSwitchPorts);
    try {
      // `lab up` killed while the cluster starts: `lab down` removes all of it.
      const killed = await runAndKill(
        ["lab", "up", lab.file, "--run-root", runRoot],
        "==> cluster: API server",
      );
      assert.match(killed, /cluster: etcd/);
      await labDown(lab, { progress: silentProgress });
      assert.deepEqual(await leftovers(lab), []);
      assert.deepEqual(clusterProcesses(runRoot), []);
      assert.deepEqual(await mountsUnder(runRoot), []);

      await labUp(lab, { progress: silentProgress });
      const h3 = lab.hosts.find((h) => h.name === "h3")!;

      // The kubelet cannot checkpoint a container that does not exist: nothing moves.
      let since = Date.now();
      const noCheckpoint = await podMigration(lab, h3, "no-such-container");
      assert.equal(noCheckpoint.result.outcome, "dump-failed", JSON.stringify(noCheckpoint.result));
      // The client's packets sent while the link was down wait for its retransmission timer.
      await sleep(3000);
      let seen = await clientSince(lab, since);
      assert.ok(
        seen.answers > 10 && !seen.broken,
        `the old pod serves on: ${JSON.stringify(seen)}`,
      );

      // Sockets rewritten to an address the new pod does not get: CRIU cannot restore them.
      since = Date.now();
      const wrongAddress = { ...h3, ip: "10.0.3.77" };
      const noRestore = await podMigration(lab, wrongAddress);
      assert.equal(
        noRestore.result.outcome,
        "rolled-back",
        JSON.stringify(noRestore.result.phases),
      );
      await sleep(1500);
      seen = await clientSince(lab, since + noRestore.result.wallMs);
      assert.ok(
        seen.answers > 10 && !seen.broken,
        `the old pod serves again: ${JSON.stringify(seen)}`,
      );
      assert.equal(
        (await ControllerApi.forLab(lab).then((a) => a.backends())).backends[0].host,
        "h2",
      );

      // A migrate killed while checkpointing, then while restoring: `lab recover` rolls the first
      // back and finishes or rolls back the second, from the journal; the client's connection
      // lives on through both.
      for (const marker of ["==> checkpoint", "==> restore on target"]) {
        const before = (await readPlacements(lab.runDir!)).find((p) => p.name === "server")!;
        await runAndKill(["migrate", lab.file, "server", "--run-root", runRoot], marker);
        const recovered = await recoverLab(lab, { progress: silentProgress, clientWaitMs: 3000 });
        assert.ok(
          recovered.outcome === "migrated" || recovered.outcome === "rolled-back",
          `${marker}: ${recovered.outcome} ${recovered.actions.join("; ")}`,
        );
        if (marker === "==> checkpoint") assert.equal(recovered.outcome, "rolled-back");
        const after = (await readPlacements(lab.runDir!)).find((p) => p.name === "server")!;
        assert.equal(after.host, recovered.host);
        assert.equal(
          after.pod === before.pod,
          recovered.outcome === "rolled-back",
          "a finished migration runs as the restored pod",
        );
        const backends = await ControllerApi.forLab(lab).then((a) => a.backends());
        assert.equal(backends.backends[0].host, recovered.host, "the switch follows");
        since = Date.now();
        await sleep(2500);
        seen = await clientSince(lab, since);
        assert.ok(
          seen.answers > 10 && !seen.broken,
          `${marker}: the server answers after the recovery: ${JSON.stringify(seen)}`,
        );
        assert.equal(recovered.client?.anyBroken, false, `${marker}: no connection broke`);
      }
      const pods = await KubeApi.fromKubeconfig((await requireAccess(lab)).kubeconfig);
      const list = await pods.get<{ items: unknown[] }>(
        `/api/v1/namespaces/${labNamespace(lab)}/pods?labelSelector=p4cf.workload%3Dserver`,
      );
      pods.close();
      assert.equal(list.items.length, 1, "one server pod, whichever way the recoveries went");

      // A migrate killed while restoring: lab down still removes everything (checked below).
      await runAndKill(
        ["migrate", lab.file, "server", "--run-root", runRoot],
        "==> restore on target",
      );
    } finally {
      await labDown(lab, { progress: silentProgress });
      assert.deepEqual(await leftovers(lab), []);
      assert.deepEqual(await mountsUnder(runRoot), []);
      assert.deepEqual(clusterProcesses(runRoot), []);
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});
