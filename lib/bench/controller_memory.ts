/**
 * The resident memory of a controller holding 10,000 table entries, measured in a fresh process
 * that is one: it runs with the controller service's Deno flags ({@link CONTROLLER_DENO_FLAGS}),
 * pushes the test program, writes the entries in batches, reads them back and keeps them (as a
 * controller keeps its state), and reports its own VmRSS while it holds them. Measuring the
 * benchmark's own process instead would count its other work and its `--expose-gc`.
 *
 * The parent side is {@link measureControllerMemory}; the child's side is {@link holdEntries},
 * run by controller_memory_child.ts.
 *
 * @module
 */
import { CONTROLLER_DENO_FLAGS } from "../controller/process_flags.ts";
import { CommandError } from "../errors.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import type { DecodedEntry, EntrySpec } from "../p4runtime/entries.ts";
import { UpdateType } from "../p4runtime/messages.ts";
import { P4Info } from "../p4runtime/p4info.ts";

/** Compiled test program with the 64K-entry `vip` table (tests/fixtures/p4rt_fixture.p4). */
export const FIXTURE_DIR: string = new URL("../../tests/fixtures/build/", import.meta.url).pathname;

const CHILD = new URL("./controller_memory_child.ts", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;

/** Match of the i-th benchmark entry of the fixture's `vip` table (distinct for i < 2^32). */
export const vipMatch = (i: number) => ({ dstAddr: 0x0a000000 + (i >> 16), srcPort: i & 0xffff });
/** Parameters of the i-th benchmark entry (two backends, alternating). */
export const vipParams = (i: number) => ({ ip: 0x0a000101 + (i % 2), port: 8080 });

/** The i-th benchmark entry of the fixture's `vip` table. */
export function vipEntry(i: number): EntrySpec {
  return { table: "vip", action: "set_backend", match: vipMatch(i), params: vipParams(i) };
}

/** Resident memory of a process, MB (2^20 bytes). */
export interface ProcessMemory {
  /** VmRSS: resident now. */
  rssMb: number;
  /** VmHWM: the most it has been resident. */
  peakRssMb: number;
}

/** VmRSS and VmHWM from the text of /proc/<pid>/status. */
export function parseProcStatusMemory(status: string): ProcessMemory {
  const kb = (key: string) => {
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m"));
    if (!m) throw new Error(`No ${key} line in /proc/<pid>/status`);
    return Number(m[1]) / 1024;
  };
  return { rssMb: kb("VmRSS"), peakRssMb: kb("VmHWM") };
}

/** This process's resident memory. */
export function ownMemory(): ProcessMemory {
  return parseProcStatusMemory(Deno.readTextFileSync("/proc/self/status"));
}

export interface HoldResult extends ProcessMemory {
  /** Entries read back and held when the memory was taken. */
  entries: number;
  batchSize: number;
  insertSeconds: number;
  readSeconds: number;
}

/**
 * The child's side: pushes the test program to the switch at `address`, inserts `count` entries
 * in batches, reads the table back and takes this process's memory while holding what it read.
 */
export async function holdEntries(
  address: string,
  count = 10_000,
  batchSize = 1000,
): Promise<HoldResult> {
  const p4info = await P4Info.load(`${FIXTURE_DIR}/p4rt_fixture.p4info.json`);
  await using client = await P4RuntimeClient.connect({ address, p4info });
  await client.setPipeline({
    p4infoBinary: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.p4info.bin`),
    bmv2Json: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.json`),
  });
  const specs = Array.from({ length: count }, (_, i) => vipEntry(i));
  let t0 = performance.now();
  await client.writeEntries(UpdateType.INSERT, specs, { batchSize });
  const insertSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const held = await client.readTable("vip");
  const readSeconds = (performance.now() - t0) / 1000;
  const memory = ownMemory();
  // Checked after the measurement, so everything read is still referenced when it is taken.
  const exact = (e: DecodedEntry, field: string) => {
    const m = e.match[field];
    return m?.kind === "exact" ? Number(m.value) : NaN;
  };
  const seen = new Set<number>();
  for (const e of held) {
    const i = (exact(e, "hdr.ipv4.dstAddr") - 0x0a000000) * 0x10000 + exact(e, "hdr.tcp.srcPort");
    if (!(i >= 0 && i < count) || e.params.ip !== BigInt(vipParams(i).ip)) {
      throw new Error(`Read back an entry that was not written: ${JSON.stringify(e, jsonBig)}`);
    }
    seen.add(i);
  }
  if (seen.size !== count) throw new Error(`Read back ${seen.size} of ${count} entries`);
  return { entries: held.length, batchSize, insertSeconds, readSeconds, ...memory };
}

function jsonBig(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

export interface ControllerMemory extends HoldResult {
  /** Deno flags the measured process ran with (the controller service's). */
  denoFlags: readonly string[];
}

/**
 * Runs {@link holdEntries} in a fresh `deno run -A <controller flags>` process against the switch
 * at `address` (which must not have another primary controller) and returns what it measured.
 */
export async function measureControllerMemory(
  address: string,
  options: { count?: number; batchSize?: number; timeoutMs?: number } = {},
): Promise<ControllerMemory> {
  const args = [
    "run",
    "-A",
    ...CONTROLLER_DENO_FLAGS,
    CHILD,
    address,
    String(options.count ?? 10_000),
    String(options.batchSize ?? 1000),
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  }).output();
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  if (!out.success) {
    throw new CommandError([Deno.execPath(), ...args], out.code, stdout, text.decode(out.stderr));
  }
  const lines = stdout.trim().split("\n");
  const result = JSON.parse(lines[lines.length - 1]) as HoldResult;
  return { ...result, denoFlags: CONTROLLER_DENO_FLAGS };
}
