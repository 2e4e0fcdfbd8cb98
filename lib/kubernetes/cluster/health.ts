/**
 * Waiting for the cluster's components to become healthy, within bounds: each wait ends early
 * when the component's process dies, and a failure is a {@link UserError} carrying the tail of
 * that component's log.
 *
 * @module
 */
import { UserError } from "../../errors.ts";
import { KubeApi, readKubeconfig } from "../api.ts";
import { pidAlive } from "../../shell.ts";
import { type ClusterPaths, type Component, logFile } from "./paths.ts";
import { certPath, keyPath } from "./pki.ts";
import { logTail } from "./processes.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A component failed to start or become healthy: message with its log's tail. */
export async function componentError(
  paths: ClusterPaths,
  name: Component,
  what: string,
  hint?: string,
): Promise<UserError> {
  const tail = await logTail(paths, name);
  return new UserError(
    `Kubernetes ${name} ${what}${tail ? `; the end of ${logFile(paths, name)}:\n${tail}` : ""}`,
    {
      hint: hint ?? `see ${logFile(paths, name)}; \`deno task lab down <lab>\` removes the cluster`,
    },
  );
}

/**
 * Polls `check` (true, or a string saying why not yet) until it passes, the process `pid` dies,
 * or `timeoutMs` passes.
 */
export async function waitHealthy(
  paths: ClusterPaths,
  name: Component,
  pid: number | undefined,
  check: () => Promise<true | string>,
  options: { timeoutMs: number; hint?: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let why = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const ok = await check();
      if (ok === true) return;
      why = ok;
    } catch (err) {
      why = (err as Error).message.split("\n")[0];
    }
    if (pid !== undefined && !pidAlive(pid)) {
      throw await componentError(paths, name, "exited while starting", options.hint);
    }
    await sleep(options.intervalMs ?? 200);
  }
  throw await componentError(
    paths,
    name,
    `was not ready within ${Math.round(options.timeoutMs / 1000)} s (${why})`,
    options.hint,
  );
}

/** A TLS client of a loopback server with the cluster's certificates. */
export async function tlsClient(
  server: string,
  pki: string,
  ca: string,
  client: string,
): Promise<KubeApi> {
  const read = (p: string) => Deno.readTextFile(p);
  return new KubeApi({
    server,
    caPem: await read(certPath(pki, ca)),
    certPem: await read(certPath(pki, client)),
    keyPem: await read(keyPath(pki, client)),
  });
}

/** True once `GET path` answers 2xx. */
export async function answers(api: KubeApi, path: string): Promise<true | string> {
  await api.request("GET", path, { timeoutMs: 3000 });
  return true;
}

/** True once `http://127.0.0.1:<port>/healthz` answers 200 (the kubelet's plain health port). */
export async function plainHealthz(port: number): Promise<true | string> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(2000),
  });
  const text = await res.text();
  return res.ok ? true : `healthz ${res.status}: ${text.slice(0, 100)}`;
}

/** A node's Ready condition: true, or its reason and message. */
export async function nodeReady(api: KubeApi, nodeName: string): Promise<true | string> {
  const node = await api.get<
    { status?: { conditions?: { type: string; status: string; message?: string }[] } }
  >(
    `/api/v1/nodes/${nodeName}`,
  );
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return true;
  return ready?.message ?? "node registered, no Ready condition yet";
}

/** The admin client of a cluster. */
export async function adminClient(paths: ClusterPaths): Promise<KubeApi> {
  return new KubeApi(await readKubeconfig(paths.kubeconfigs.admin));
}
