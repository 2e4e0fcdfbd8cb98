/**
 * A real cluster: up from the machine's binaries, the API and the node, a pod from a FROM-scratch
 * image built into CRI-O's storage, the kubelet's checkpoint API through the API server's node
 * proxy with the migrator's (and only the migrator's) rights, then down, leaving nothing behind.
 * And `down` after `up` was killed with SIGKILL half-way. Skipped (with the reason printed) where
 * Kubernetes, CRI-O or CRIU are missing, or another cluster holds the ports.
 */
import assert from "node:assert/strict";
import { KubeApi, KubeApiError, type Pod, podReady } from "../../../lib/kubernetes/api.ts";
import { clusterDown } from "../../../lib/kubernetes/cluster/down.ts";
import { clusterPaths, pidFile } from "../../../lib/kubernetes/cluster/paths.ts";
import type { ClusterInfo } from "../../../lib/kubernetes/cluster/info.ts";
import { clusterUp, type ClusterUpContext } from "../../../lib/kubernetes/cluster/up.ts";
import { repoRoot } from "../../../lib/lab/paths.ts";
import type { Lab } from "../../../lib/lab/types.ts";
import { RecordingProgress, silentProgress } from "../../../lib/progress.ts";
import { defaultShell, pidAlive } from "../../../lib/shell.ts";
import type { LabObject } from "../../../lib/topology/objects.ts";
import { buildWorkloads } from "../../../lib/workloads/build.ts";
import { output, sh, testLab } from "../../topology/_lab.ts";
import {
  clusterLeftovers,
  clusterTest,
  eventually,
  type MachineState,
  machineState,
  testBridge,
  writeTestCni,
} from "./_cluster.ts";

const IMAGE = "localhost/p4cf-test-counter:1";
const PORT = 8080;

function context(lab: Lab, recorded: LabObject[]): ClusterUpContext {
  return {
    shell: defaultShell,
    progress: silentProgress,
    record: (objects) => {
      recorded.push(...objects);
      return Promise.resolve();
    },
    prepareNetwork: async ({ cniConfDir }) => {
      await writeTestCni(lab, cniConfDir);
    },
  };
}

/** Builds the counter server into a FROM-scratch image in CRI-O's storage. */
async function buildTestImage(podmanArgs: string[]): Promise<void> {
  const { counter_server } = await buildWorkloads();
  const dir = await Deno.makeTempDir({ prefix: "p4t-image-" });
  try {
    await Deno.copyFile(counter_server, `${dir}/counter_server`);
    await Deno.writeTextFile(
      `${dir}/Containerfile`,
      'FROM scratch\nCOPY counter_server /counter_server\nENTRYPOINT ["/counter_server"]\n',
    );
    await defaultShell.run(["podman", ...podmanArgs, "build", "--quiet", "-t", IMAGE, dir]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function testPod(namespace: string): unknown {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "srv", namespace },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      containers: [{
        name: "srv",
        image: IMAGE,
        imagePullPolicy: "Never",
        args: [String(PORT)],
        // Burstable: a Guaranteed pod's oom_score_adj needs CAP_SYS_RESOURCE, which root may lack.
        resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
      }],
    },
  };
}

/** One request line to the counter server; its answer line. */
async function ask(ip: string): Promise<string> {
  const conn = await Deno.connect({ hostname: ip, port: PORT });
  try {
    await conn.write(new TextEncoder().encode("hello\n"));
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
  } finally {
    conn.close();
  }
}

/** Builds the image and runs the test pod in the cluster's namespace; the pod once Ready. */
async function runTestPod(admin: KubeApi, info: ClusterInfo): Promise<Pod> {
  await buildTestImage(info.podmanStorageArgs);
  const pods = `/api/v1/namespaces/${info.namespace}/pods`;
  await admin.create(pods, testPod(info.namespace));
  let pod: Pod | undefined;
  assert.ok(
    await eventually(async () => podReady(pod = await admin.get<Pod>(`${pods}/srv`)), 60_000),
    `pod srv not Ready: ${JSON.stringify(pod?.status)}`,
  );
  return pod!;
}

interface Collected {
  left: string[];
  failed: string[];
}

/** Takes the cluster down, returns what is left, removes the test's own bridge and files. */
async function downAndCollect(lab: Lab, runRoot: string): Promise<Collected> {
  const t0 = performance.now();
  const progress = new RecordingProgress();
  const result = await clusterDown(lab.runDir!, { shell: defaultShell, progress });
  console.log(`clusterDown: ${(performance.now() - t0).toFixed(0)} ms`);
  for (const e of progress.events.filter((e) => /^(warn|info)/.test(e))) console.log(e);
  const left = await clusterLeftovers(lab, [testBridge(lab)]);
  const ports = await output("ip", ["-o", "link", "show", "master", testBridge(lab)]);
  if (ports.trim()) left.push(`veth left on the test bridge (no CNI DEL): ${ports.trim()}`);
  await output("ip", ["link", "del", "dev", testBridge(lab)]);
  await Deno.remove(runRoot, { recursive: true }).catch(() => {});
  if (left.length) console.log(`left behind:\n  ${left.join("\n  ")}`);
  return { left, failed: result.failed };
}

/** Nothing left, nothing failed, the machine as before. */
async function assertClean(down: Collected | undefined, before: MachineState): Promise<void> {
  assert.deepEqual(down?.failed, []);
  assert.deepEqual(down?.left, []);
  assert.ok(
    await eventually(() => machineState().unifiedControllers === before.unifiedControllers, 5000),
    "hugetlb back in the cgroup v2 hierarchy",
  );
  assert.deepEqual(machineState(), before);
}

clusterTest(
  "cluster: up, a pod, a checkpoint through the node proxy, down without a trace",
  async () => {
    const { lab, runRoot } = await testLab("kubernetes");
    const before = machineState();
    const recorded: LabObject[] = [];
    const ctx = context(lab, recorded);
    let down: Collected | undefined;
    try {
      let t0 = performance.now();
      const info = await clusterUp(lab, ctx);
      console.log(`clusterUp: ${(performance.now() - t0).toFixed(0)} ms`);
      assert.deepEqual(recorded[0], { kind: "link", name: `${lab.id}-node` });
      assert.deepEqual(
        recorded.filter((o) => o.kind === "process").map((o) => o.name).sort(),
        [
          "crio",
          "etcd",
          "kube-apiserver",
          "kube-controller-manager",
          "kube-scheduler",
          "kubelet",
          "node-ns",
        ],
      );
      for (const o of recorded) {
        if (o.kind === "process") {
          assert.ok(o.pidFile.startsWith(`${lab.runDir}/`));
        }
      }

      // Keys and credentials are root's alone.
      const paths = clusterPaths(lab.runDir!);
      const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o777;
      assert.equal(await mode(paths.root), 0o700);
      assert.equal(await mode(paths.pkiDir), 0o700);
      for await (const e of Deno.readDir(paths.pkiDir)) {
        if (e.name.endsWith(".key")) {
          assert.equal(await mode(`${paths.pkiDir}/${e.name}`), 0o600, e.name);
        }
      }
      for (const k of Object.values(paths.kubeconfigs)) assert.equal(await mode(k), 0o600, k);

      t0 = performance.now();
      assert.deepEqual(await clusterUp(lab, ctx), info, "a healthy cluster is kept");
      assert.ok(performance.now() - t0 < 2000, "keeping it is quick");

      using admin = await KubeApi.fromKubeconfig(info.kubeconfig);
      const version = await admin.get<{ gitVersion: string }>("/version");
      assert.match(version.gitVersion, /^v1\./);
      const node = await admin.get<{
        status: {
          addresses: { type: string; address: string }[];
          conditions: { type: string; status: string }[];
        };
      }>(`/api/v1/nodes/${info.nodeName}`);
      assert.ok(node.status.conditions.some((c) => c.type === "Ready" && c.status === "True"));
      assert.ok(
        node.status.addresses.some((a) => a.type === "InternalIP" && a.address === info.nodeIp),
      );

      const pods = `/api/v1/namespaces/${info.namespace}/pods`;
      const pod = await runTestPod(admin, info);
      assert.match(await ask(pod.status!.podIP!), /^\{"conn":0,"count":1,"total":1\}$/);

      // The machine's mount table shows nothing of the node but the pods' network namespaces:
      // no hugetlb, no overlay or shm mounts.
      const hostMounts = await output("findmnt", ["-rn", "-o", "TARGET,FSTYPE,OPTIONS"]);
      assert.doesNotMatch(hostMounts, /hugetlb/);
      const podNs = paths.crioNamespacesDir;
      const ours = hostMounts.split("\n").filter((l) => l.startsWith(lab.runDir!));
      // pinns pins a pod's network, UTS and IPC namespaces there.
      const pinned = ours.filter((l) => /^\S+\/(net|uts|ipc)ns\/\S+ nsfs /.test(l));
      assert.deepEqual(ours.filter((l) => !pinned.includes(l)).map((l) => l.split(" ")[0]), [
        podNs,
      ]);
      const netns = pinned.filter((l) => l.startsWith(`${podNs}/netns/`));
      assert.equal(netns.length, 1, ours.join("\n"));
      // The pod's namespace is usable from the machine (lab exec, probes).
      const podAddrs = await sh(
        "nsenter",
        `--net=${netns[0].split(" ")[0]}`,
        "--",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
      );
      assert.ok(podAddrs.includes(` ${pod.status!.podIP!}/`), podAddrs);
      // A namespace the lab adds later (a slot's parking namespace) appears in the node's.
      const probe = `${lab.id}-probe`;
      await sh("ip", "netns", "add", probe);
      try {
        const holder = (await Deno.readTextFile(pidFile(paths, "node-ns"))).trim();
        const inside = await sh(
          "nsenter",
          `--mount=/proc/${holder}/ns/mnt`,
          "--",
          "findmnt",
          "-n",
          "-o",
          "FSTYPE",
          `/run/netns/${probe}`,
        );
        assert.equal(inside.trim(), "nsfs");
      } finally {
        await sh("ip", "netns", "del", probe);
      }

      using migrator = await KubeApi.fromKubeconfig(info.migratorKubeconfig);
      const checkpoint = await migrator.request<{ items: string[] }>(
        "POST",
        `/api/v1/nodes/${info.nodeName}/proxy/checkpoint/${info.namespace}/srv/srv`,
        { timeoutMs: 60_000 },
      );
      assert.equal(checkpoint.items.length, 1);
      const archive = checkpoint.items[0];
      assert.ok(
        archive.startsWith(`${info.checkpointsDir}/checkpoint-srv_${info.namespace}-srv-`),
        archive,
      );
      assert.ok((await Deno.stat(archive)).size > 10_000);
      await assert.rejects(
        migrator.get(pods),
        (err) => err instanceof KubeApiError && err.status === 403,
        "the migrator may do nothing but use the node proxy",
      );
      assert.match(await ask(pod.status!.podIP!), /"conn":1/, "the checkpointed server runs on");

      // A dead component makes the cluster unhealthy: `up` removes it and starts afresh.
      const kubelet = Number(await Deno.readTextFile(pidFile(paths, "kubelet")));
      Deno.kill(kubelet, "SIGKILL");
      assert.ok(await eventually(() => !pidAlive(kubelet), 5000));
      t0 = performance.now();
      const again = await clusterUp(lab, ctx);
      console.log(`clusterUp over a broken cluster: ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(again.nodeName, info.nodeName);
      using admin2 = await KubeApi.fromKubeconfig(again.kubeconfig);
      assert.deepEqual((await admin2.list<Pod>(pods)).items, [], "a fresh cluster");
      // A pod for `down` to remove through CRI-O (CNI DEL takes its veth off the bridge).
      await runTestPod(admin2, again);
    } finally {
      down = await downAndCollect(lab, runRoot);
    }
    await assertClean(down, before);
  },
);

clusterTest("cluster: down after up was killed with SIGKILL half-way leaves nothing", async () => {
  const { lab, runRoot } = await testLab("kubernetes");
  const before = machineState();
  let down: Collected | undefined;
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        `${repoRoot()}/deno.json`,
        new URL("./_up_child.ts", import.meta.url).pathname,
        lab.runDir!,
        lab.id!,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    // Killed once CRI-O runs: the control plane and the node namespace are up, the kubelet not yet.
    const crioPid = pidFile(clusterPaths(lab.runDir!), "crio");
    const started = await eventually(
      async () => exited || (await Deno.readTextFile(crioPid).catch(() => "")).endsWith("\n"),
      60_000,
    );
    const early = exited;
    if (!early) child.kill("SIGKILL");
    await status;
    assert.ok(started && !early, `up reached CRI-O and was killed there: ${await stderr}`);
    assert.ok((await clusterLeftovers(lab, [testBridge(lab)])).length > 0, "something to remove");
  } finally {
    down = await downAndCollect(lab, runRoot);
  }
  await assertClean(down, before);
});

clusterTest("cluster: down after the node crashed with a pod running leaves nothing", async () => {
  const { lab, runRoot } = await testLab("kubernetes");
  const before = machineState();
  let down: Collected | undefined;
  try {
    const info = await clusterUp(lab, context(lab, []));
    using admin = await KubeApi.fromKubeconfig(info.kubeconfig);
    await runTestPod(admin, info);
    // CRI-O, the kubelet and the namespace holder die; conmon and the container live on.
    const paths = clusterPaths(lab.runDir!);
    for (const c of ["crio", "kubelet", "node-ns"] as const) {
      Deno.kill(Number(await Deno.readTextFile(pidFile(paths, c))), "SIGKILL");
    }
  } finally {
    down = await downAndCollect(lab, runRoot);
  }
  await assertClean(down, before);
});
