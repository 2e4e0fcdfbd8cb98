/**
 * Peer bench for the P4Runtime client: the workload of lib/p4runtime/bench.ts (MODIFY round
 * trips, INSERT one per request, INSERT in batches of 1000) against one BMv2, from our client on
 * its own HTTP/2 transport, from our client on grpc-js, and from Python grpcio (C-core gRPC)
 * driven by p4runtime_peer.py with stubs generated now from our own proto/ (Debian's
 * python3-grpcio and python3-grpc-tools). The three take turns, in a rotating order, for a few
 * rounds; each figure is the median over the rounds, so a burst of load on a shared machine
 * hits all three alike.
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import type { Switch } from "../lab/types.ts";
import { startSwitch, stopSwitch } from "../bmv2/switch.ts";
import { type BenchOptions, benchP4Runtime, type BenchResult } from "../p4runtime/bench.ts";
import { latencyStats, throughput } from "../p4runtime/bench.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import { P4Info } from "../p4runtime/p4info.ts";
import { PROTO_DIR } from "../p4runtime/proto.ts";
import type { TransportKind } from "../p4runtime/transport/types.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { FIXTURE_DIR, vipMatch, vipParams } from "./controller_memory.ts";
import { peerLine, type PeerReport, type PeerSkipped } from "./peers.ts";
import { loadAverageNow } from "./machine_facts.ts";

const PEER_SCRIPT = new URL("./p4runtime_peer.py", import.meta.url).pathname;

/** The workload's sizes (those of the `p4runtime` section). */
export const PEER_WORKLOAD = {
  modifyIterations: 1000,
  warmup: 100,
  batchedRounds: 3,
  insertCount: 10_000,
  batchSize: 1000,
  singleInsertCount: 2000,
} as const satisfies Partial<BenchOptions>;

export type PeerWorkload = { -readonly [K in keyof typeof PEER_WORKLOAD]: number };

/** Goals on ours / Python grpcio (issue 15). */
export const P4RUNTIME_GOALS = {
  modifyP50: { max: 0.6 },
  modifyP99: { max: 1 },
  singleInsert: { min: 1.5 },
  batchedInsert: { min: 2.5 },
} as const;

const INSTALL_HINT = "apt-get install python3-grpcio python3-grpc-tools " +
  "(bash lab/provision.sh installs them)";

/**
 * A Python 3 that imports grpc and grpc_tools: `P4CF_PYTHON`, then Debian's /usr/bin/python3
 * (where the packages install), then `python3` on PATH. Else the reason, saying what to install.
 */
export async function findPythonGrpc(
  shell: Shell = defaultShell,
): Promise<{ python: string } | { missing: string }> {
  const candidates = [Deno.env.get("P4CF_PYTHON"), "/usr/bin/python3", "python3"]
    .filter((p): p is string => !!p);
  for (const python of candidates) {
    const r = await shell.run([python, "-c", "import grpc, grpc_tools.protoc"], {
      check: false,
      timeoutMs: 30_000,
    });
    if (r.code === 0) return { python };
  }
  return {
    missing: `Python grpcio is missing (tried ${candidates.join(", ")}): ${INSTALL_HINT}`,
  };
}

/** Generates the Python messages and stubs of proto/ into `dir` (grpc_tools.protoc). */
export async function generatePythonStubs(
  python: string,
  dir: string,
  shell: Shell = defaultShell,
): Promise<void> {
  const protos: string[] = [];
  for await (const rel of protoFiles(PROTO_DIR, "")) protos.push(rel);
  await shell.run([
    python,
    "-m",
    "grpc_tools.protoc",
    `-I${PROTO_DIR}`,
    `--python_out=${dir}`,
    `--grpc_python_out=${dir}`,
    ...protos.sort(),
  ], { timeoutMs: 60_000 });
}

async function* protoFiles(root: string, rel: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(`${root}${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) yield* protoFiles(root, path);
    else if (e.name.endsWith(".proto")) yield path;
  }
}

/** The ids and sizes p4runtime_peer.py needs (it reads no P4Info of its own). */
export function peerConfig(
  info: P4Info,
  address: string,
  electionId: number,
  workload: PeerWorkload = { ...PEER_WORKLOAD },
): Record<string, unknown> {
  const table = info.table("vip");
  const action = info.action("set_backend");
  return {
    address,
    device_id: 0,
    election_id: electionId,
    table_id: table.id,
    match_ids: ["dstAddr", "srcPort"].map((f) => table.fieldIndex.get(f).id),
    action_id: action.id,
    param_ids: ["ip", "port"].map((p) => action.paramIndex.get(p).id),
    modify_iterations: workload.modifyIterations,
    warmup: workload.warmup,
    batched_rounds: workload.batchedRounds,
    insert_count: workload.insertCount,
    batch_size: workload.batchSize,
    single_insert_count: workload.singleInsertCount,
  };
}

/** The i-th INSERT update as the Python peer encodes it (hex), for tests. */
export async function pythonPeerUpdateHex(
  python: string,
  stubDir: string,
  config: Record<string, unknown>,
  i: number,
  shell: Shell = defaultShell,
): Promise<string> {
  const r = await shell.run([python, PEER_SCRIPT, stubDir, JSON.stringify(config), String(i)], {
    timeoutMs: 30_000,
  });
  return r.stdout.trim();
}

/** Runs the workload from Python grpcio; its samples become the same statistics as ours. */
export async function runPythonPeer(
  python: string,
  stubDir: string,
  config: Record<string, unknown>,
  shell: Shell = defaultShell,
): Promise<BenchResult & { grpcio: string }> {
  const r = await shell.run([python, PEER_SCRIPT, stubDir, JSON.stringify(config)], {
    timeoutMs: 300_000,
  });
  const out = JSON.parse(r.stdout) as {
    grpcio: string;
    modifyMs: number[];
    modifyCpuUs: number;
    batchedInsertMs: number[];
    batchedDeleteMs: number[];
    singleInsertMs: number;
  };
  const n = config.insert_count as number;
  const size = config.batch_size as number;
  return {
    grpcio: out.grpcio,
    modify: latencyStats(out.modifyMs),
    modifyCpuUs: out.modifyCpuUs,
    batchedInsert: throughput(n, size, latencyStats(out.batchedInsertMs).p50Ms),
    batchedDelete: throughput(n, size, latencyStats(out.batchedDeleteMs).p50Ms),
    singleInsert: throughput(config.single_insert_count as number, 1, out.singleInsertMs),
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const median = (values: number[]) => latencyStats(values).p50Ms;

/** The per-measure medians of a participant's rounds. */
export function medianResult(rounds: readonly BenchResult[]) {
  return {
    modifyP50Us: median(rounds.map((r) => r.modify.p50Ms * 1000)),
    modifyP99Us: median(rounds.map((r) => r.modify.p99Ms * 1000)),
    modifyCpuUs: median(rounds.map((r) => r.modifyCpuUs)),
    singleInsert: median(rounds.map((r) => r.singleInsert.entriesPerSecond)),
    batchedInsert: median(rounds.map((r) => r.batchedInsert.entriesPerSecond)),
  };
}

export interface P4RuntimePeersOptions {
  runDir: string;
  /** Rounds of the three participants (default 3). */
  rounds?: number;
  workload?: PeerWorkload;
  log?: (line: string) => void;
  shell?: Shell;
}

const NO_POLL = "ours (h2, no busy-poll)";

/** Ours on each transport, ours without busy-polling (busy_poll.ts), and Python grpcio. */
type Participant = TransportKind | "h2-no-poll" | "python";

/** Runs the bench; skipped with the reason when BMv2 or Python grpcio is missing. */
export async function benchP4RuntimePeers(
  options: P4RuntimePeersOptions,
): Promise<PeerReport | PeerSkipped> {
  const name = "p4runtime";
  const title = "P4Runtime client against Python grpcio (C-core gRPC), same BMv2, same run";
  const noBmv2 = probeCapability("bmv2");
  if (noBmv2) return { name, title, skipped: noBmv2 };
  const shell = options.shell ?? defaultShell;
  const found = await findPythonGrpc(shell);
  if ("missing" in found) return { name, title, skipped: found.missing };
  const workload = options.workload ?? { ...PEER_WORKLOAD };
  const log = options.log ?? (() => {});
  const before = loadAverageNow();
  const stubDir = await Deno.makeTempDir({ prefix: "p4cf-peer-stubs-" });
  const sw: Switch = {
    name: "peers",
    kind: "bmv2",
    deviceId: 0,
    grpcPort: freePort(),
    thriftPort: freePort(),
    ports: [],
  };
  const running = await startSwitch(sw, { runDir: options.runDir, logLevel: "off" });
  try {
    await generatePythonStubs(found.python, stubDir, shell);
    const p4info = await P4Info.load(`${FIXTURE_DIR}/p4rt_fixture.p4info.json`);
    // Each participant connects with a higher election id than the last, whose stream the
    // switch may not have seen close yet.
    let electionId = 1;
    {
      await using client = await P4RuntimeClient.connect({
        address: running.grpcAddress,
        p4info,
        electionId: BigInt(electionId++),
      });
      await client.setPipeline({
        p4infoBinary: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.p4info.bin`),
        bmv2Json: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.json`),
      });
    }
    const order: Participant[] = ["h2", "python", "grpc-js", "h2-no-poll"];
    const results: Record<Participant, BenchResult[]> = {
      h2: [],
      python: [],
      "grpc-js": [],
      "h2-no-poll": [],
    };
    let grpcio = "";
    const rounds = Math.max(1, options.rounds ?? 3);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < order.length; k++) {
        const who = order[(k + round) % order.length];
        let r: BenchResult;
        if (who === "python") {
          const py = await runPythonPeer(
            found.python,
            stubDir,
            peerConfig(p4info, running.grpcAddress, electionId++, workload),
            shell,
          );
          grpcio = py.grpcio;
          r = { ...py, grpcio: undefined } as BenchResult;
        } else {
          await using client = await P4RuntimeClient.connect({
            address: running.grpcAddress,
            p4info,
            electionId: BigInt(electionId++),
            transport: who === "h2-no-poll" ? "h2" : who,
            ...(who === "h2-no-poll" ? { busyPollUs: 0 } : {}),
          });
          r = await benchP4Runtime(client, {
            table: "vip",
            action: "set_backend",
            match: vipMatch,
            params: vipParams,
            ...workload,
          });
        }
        results[who].push(r);
        log(
          `round ${round + 1} ${who.padEnd(10)} MODIFY p50 ${(r.modify.p50Ms * 1000).toFixed(0)} ` +
            `µs p99 ${(r.modify.p99Ms * 1000).toFixed(0)} µs cpu ${r.modifyCpuUs.toFixed(0)} µs` +
            (r.modifyOwnUs === undefined ? "" : ` (own time ${r.modifyOwnUs.toFixed(0)} µs)`) +
            (r.busyPolls && r.busyPolls.answered + r.busyPolls.timedOut
              ? `, ${r.busyPolls.answered} of ${r.busyPolls.answered + r.busyPolls.timedOut} ` +
                `answers polled`
              : "") +
            `, single ` +
            `${r.singleInsert.entriesPerSecond.toFixed(0)}/s, batched ` +
            `${r.batchedInsert.entriesPerSecond.toFixed(0)}/s`,
        );
      }
    }
    const ours = medianResult(results.h2);
    const js = medianResult(results["grpc-js"]);
    const noPoll = medianResult(results["h2-no-poll"]);
    const py = medianResult(results.python);
    return {
      name,
      title,
      oursName: "ours (h2)",
      peerName: `Python grpcio ${grpcio}`,
      extraNames: ["ours (grpc-js)", NO_POLL],
      lines: [
        peerLine(
          "MODIFY round trip p50",
          "µs",
          "lower",
          ours.modifyP50Us,
          py.modifyP50Us,
          P4RUNTIME_GOALS.modifyP50,
          { "ours (grpc-js)": js.modifyP50Us, [NO_POLL]: noPoll.modifyP50Us },
        ),
        peerLine(
          "MODIFY round trip p99",
          "µs",
          "lower",
          ours.modifyP99Us,
          py.modifyP99Us,
          P4RUNTIME_GOALS.modifyP99,
          { "ours (grpc-js)": js.modifyP99Us, [NO_POLL]: noPoll.modifyP99Us },
        ),
        peerLine(
          "client CPU per MODIFY",
          "µs",
          "lower",
          ours.modifyCpuUs,
          py.modifyCpuUs,
          {},
          { "ours (grpc-js)": js.modifyCpuUs, [NO_POLL]: noPoll.modifyCpuUs },
        ),
        peerLine(
          "INSERT, one per request",
          "/s",
          "higher",
          ours.singleInsert,
          py.singleInsert,
          P4RUNTIME_GOALS.singleInsert,
          { "ours (grpc-js)": js.singleInsert, [NO_POLL]: noPoll.singleInsert },
        ),
        peerLine(
          `INSERT ${workload.insertCount} in batches of ${workload.batchSize}`,
          "/s",
          "higher",
          ours.batchedInsert,
          py.batchedInsert,
          P4RUNTIME_GOALS.batchedInsert,
          { "ours (grpc-js)": js.batchedInsert, [NO_POLL]: noPoll.batchedInsert },
        ),
      ],
      loadAverage: { before, after: loadAverageNow() },
      details: { rounds, workload, grpcio, python: found.python, results },
    };
  } finally {
    await stopSwitch(running);
    await Deno.remove(stubDir, { recursive: true }).catch(() => {});
  }
}
