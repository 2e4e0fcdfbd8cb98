/**
 * A small typed client of the Kubernetes API over HTTPS with client certificates (what the lab's
 * own cluster issues, and what most kubeconfigs hold), on Deno's fetch: get, create, delete,
 * patch, list and watch, and POST through the API server's node proxy (the kubelet's checkpoint
 * API). No SDK: the lab uses a handful of calls, and a well-typed error with a hint per failure
 * is worth more here than generated clients for every resource.
 *
 * ```ts
 * const api = KubeApi.fromKubeconfig(await readKubeconfig(".run/labs/kubernetes/cluster/admin.kubeconfig"));
 * const pods = await api.list<Pod>("/api/v1/namespaces/p4cf-k8s/pods", { labelSelector: "app=server" });
 * ```
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { UserError } from "../errors.ts";

/** Where and how to reach an API server. */
export interface KubeCredentials {
  /** e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the cluster's CA. */
  caPem?: string;
  /** PEM client certificate and key. */
  certPem?: string;
  keyPem?: string;
  /** Bearer token (instead of a client certificate). */
  token?: string;
}

/** The API server answered with an error status. */
export class KubeApiError extends UserError {
  override name = "KubeApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    hint?: string,
  ) {
    super(message, { hint });
  }
}

/** Object metadata, as far as the lab reads it. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: { kind: string; name: string }[];
}

/** A pod, as far as the lab reads it. */
export interface Pod {
  metadata: ObjectMeta;
  spec?: { nodeName?: string; containers: { name: string; image: string }[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID?: string;
      state?: {
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; message?: string; exitCode?: number };
      };
    }[];
  };
}

/** One event of a watch. */
export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

function decodeData(data: string | undefined): string | undefined {
  return data === undefined ? undefined : new TextDecoder().decode(
    Uint8Array.from(atob(data), (c) => c.charCodeAt(0)),
  );
}

/** Reads the current context of a kubeconfig file into credentials (files and inline data). */
export async function readKubeconfig(path: string): Promise<KubeCredentials> {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(await Deno.readTextFile(path)) as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`Cannot read kubeconfig ${path}: ${(err as Error).message}`, {
      hint: "give --kubeconfig the path of a readable kubeconfig file",
    });
  }
  // deno-lint-ignore no-explicit-any
  const named = (list: unknown, name: unknown): any =>
    // deno-lint-ignore no-explicit-any
    (Array.isArray(list) ? list : []).find((e: any) => e?.name === name) ?? {};
  // deno-lint-ignore no-explicit-any
  const contexts = doc.contexts as any[] | undefined;
  const contextName = doc["current-context"] ?? contexts?.[0]?.name;
  const context = named(doc.contexts, contextName).context ?? {};
  // deno-lint-ignore no-explicit-any
  const cluster = named(doc.clusters, context.cluster ?? (doc.clusters as any)?.[0]?.name).cluster;
  // deno-lint-ignore no-explicit-any
  const user = named(doc.users, context.user ?? (doc.users as any)?.[0]?.name).user ?? {};
  if (!cluster?.server) {
    throw new UserError(`Kubeconfig ${path} names no cluster server`, {
      hint: "check its clusters and current-context",
    });
  }
  const base = path.slice(0, path.lastIndexOf("/") + 1);
  const file = (p: string | undefined) =>
    p === undefined ? undefined : Deno.readTextFile(p.startsWith("/") ? p : base + p);
  return {
    server: String(cluster.server).replace(/\/+$/, ""),
    caPem: decodeData(cluster["certificate-authority-data"]) ??
      await file(cluster["certificate-authority"]),
    certPem: decodeData(user["client-certificate-data"]) ?? await file(user["client-certificate"]),
    keyPem: decodeData(user["client-key-data"]) ?? await file(user["client-key"]),
    token: user.token,
  };
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A client of one API server. */
export class KubeApi {
  readonly server: string;
  readonly #client: Deno.HttpClient;
  readonly #headers: Record<string, string>;

  constructor(creds: KubeCredentials) {
    this.server = creds.server;
    this.#client = Deno.createHttpClient({
      ...(creds.caPem ? { caCerts: [creds.caPem] } : {}),
      ...(creds.certPem && creds.keyPem ? { cert: creds.certPem, key: creds.keyPem } : {}),
    });
    this.#headers = creds.token ? { authorization: `Bearer ${creds.token}` } : {};
  }

  static async fromKubeconfig(path: string): Promise<KubeApi> {
    return new KubeApi(await readKubeconfig(path));
  }

  close(): void {
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** One request; JSON in, JSON out; throws {@link KubeApiError} for error statuses. */
  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        client: this.#client,
        headers: {
          ...this.#headers,
          accept: "application/json",
          ...(options.body === undefined
            ? {}
            : { "content-type": options.contentType ?? "application/json" }),
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new UserError(
        `The Kubernetes API at ${this.server} did not answer ${method} ${path}: ${
          (err as Error).message
        }`,
        { hint: "is the cluster up? (`deno task lab status <lab>`)" },
      );
    }
    const text = await res.text();
    // deno-lint-ignore no-explicit-any
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = { message: text.slice(0, 500) };
    }
    if (!res.ok) {
      throw new KubeApiError(
        res.status,
        body?.reason ?? String(res.status),
        `Kubernetes API ${method} ${path}: ${body?.message ?? `HTTP ${res.status}`}`,
        res.status === 403
          ? "the credentials lack the permission (RBAC)"
          : res.status === 404
          ? "it does not exist (yet)"
          : undefined,
      );
    }
    return body as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, { body });
  }

  /** Deletes; a missing object is not an error. */
  async delete(path: string, options: { gracePeriodSeconds?: number } = {}): Promise<void> {
    try {
      await this.request("DELETE", `${path}${query({ ...options })}`);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  /** A merge patch. */
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, {
      body,
      contentType: "application/merge-patch+json",
    });
  }

  async list<T>(
    path: string,
    options: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
    return await this.request("GET", `${path}${query(options)}`);
  }

  /**
   * Watches a collection from `resourceVersion`, yielding events until the server ends the watch
   * or `signal` aborts. The caller re-lists and re-watches when it ends.
   */
  async *watch<T>(
    path: string,
    options: { labelSelector?: string; resourceVersion?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const res = await fetch(
      `${this.server}${path}${
        query({
          watch: true,
          labelSelector: options.labelSelector,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: true,
        })
      }`,
      { client: this.#client, headers: this.#headers, signal: options.signal },
    );
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw new KubeApiError(res.status, "Watch", `Kubernetes API watch ${path}: ${text}`);
    }
    let buffer = "";
    for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) yield JSON.parse(line) as WatchEvent<T>;
      }
    }
  }
}

/**
 * Why a pod's container cannot start (the runtime refused to create or restore it, or it
 * exited), or undefined while it is fine or still being created.
 */
export function podFailure(pod: Pod): string | undefined {
  if (pod.status?.phase === "Failed") return `pod failed`;
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && waiting.reason !== "ContainerCreating") {
      return `${c.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
    }
    const ended = c.state?.terminated;
    if (ended) return `${c.name} exited (${ended.reason ?? ended.exitCode})`;
  }
  return undefined;
}

/** True when a pod is Ready (its containers started and pass their checks). */
export function podReady(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp === undefined &&
    (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}
