/**
 * `doctor --criu-selfcheck`: proves that this machine's CRIU migrates a TCP server to another
 * namespace with a different address while a client keeps its connections.
 *
 * On a {@link MigrationRig}: counter_server on the source, counter_client talking to the VIP
 * through the nft-stand-in; dump on the source, rewrite the source address to the target's in
 * files.img, restore on the target (stopped), flip the stand-in, resume the server, release the
 * source's lock, and check that the same connections keep getting answers with their counters
 * continuing.
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import { MissingCapabilityError } from "../errors.ts";
import { type Shell } from "../shell.ts";
import { computeDowntime, type DowntimeReport } from "../workloads/client_log.ts";
import { criuDump, criuRestore, releaseSourceLock } from "./checkpoint.ts";
import type { NetworkLockMethod } from "./commands.ts";
import { rewriteDumpAddresses } from "./rewrite.ts";
import { MigrationRig } from "./selfcheck_rig.ts";

export interface SelfCheckOptions {
  shell?: Shell;
  /** criu binary (default: $CRIU or criu on PATH). */
  criu?: string;
  /** Client connections kept open across the migration (default 2). */
  connections?: number;
  networkLock?: NetworkLockMethod;
  /** Progress lines (the library never prints). */
  log?: (line: string) => void;
  /** Keep the temporary directory (images, logs) for inspection; its path is returned. */
  keepDir?: boolean;
  /** Prefix of the namespaces created (default: p4sc + random). */
  prefix?: string;
}

export interface SelfCheckResult {
  /** criu dump wall time, ms. */
  dumpMs: number;
  /** files.img address rewrite, ms. */
  rewriteMs: number;
  /** criu restore wall time, ms. */
  restoreMs: number;
  /** Wait for the dumped pid to be reaped before the restore could start, ms. */
  pidWaitMs: number;
  /** The dumped pid was still taken when the restore began (the fallback wait ran). */
  pidWasBusy: boolean;
  /** Stand-in flip to the target, ms. */
  flipMs: number;
  /** From the start of the dump to the flip, ms. */
  totalMs: number;
  /** Sockets whose address was rewritten. */
  rewrittenSockets: number;
  downtime: DowntimeReport;
  /** The temporary directory, when kept. */
  dir?: string;
}

/**
 * Runs the round trip and cleans up everything it created. Throws when any step fails or when
 * a connection broke, stalled, or its counter did not continue.
 */
export async function criuSelfCheck(options: SelfCheckOptions = {}): Promise<SelfCheckResult> {
  for (const cap of ["netns", "criu"] as const) {
    const reason = probeCapability(cap);
    if (reason) {
      throw new MissingCapabilityError(`Cannot run the CRIU self-check: ${reason}`, {
        hint: "run it as root on a provisioned machine (`bash lab/provision.sh` as root)",
      });
    }
  }
  const log = options.log ?? (() => {});
  const conns = options.connections ?? 2;
  const rig = await MigrationRig.create({
    prefix: options.prefix ?? `p4sc${crypto.randomUUID().slice(0, 6)}`,
    shell: options.shell,
  });
  const { plan } = rig;
  const shell = options.shell;
  try {
    log(
      `namespaces ${plan.source.netns} (${plan.source.ip}) -> ${plan.target.netns} ` +
        `(${plan.target.ip}), VIP ${plan.vip}:${plan.port} on nft-stand-in ${plan.router}`,
    );
    const pid = await rig.startServer("source");
    await rig.startClient(conns);
    await rig.waitForAnswers(conns, 20);
    log(`counter_server pid ${pid} answering ${conns} connections`);

    const imagesDir = `${rig.dir}/images`;
    const start = Date.now();
    const t0 = performance.now();
    const dump = await criuDump({
      shell,
      criu: options.criu,
      netns: plan.source.netns,
      pid,
      imagesDir,
      networkLock: options.networkLock,
    });
    log(`dump ${dump.elapsedMs.toFixed(0)} ms`);
    const rewrite = await rewriteDumpAddresses(imagesDir, {
      from: plan.source.ip,
      to: plan.target.ip,
    });
    log(`rewrite ${rewrite.elapsedMs.toFixed(1)} ms (${rewrite.changed.length} sockets)`);
    // Restored stopped and resumed only after the flip: running at once, the server would answer
    // a request queued at dump time, and the client's next one would still go to the source.
    const restore = await criuRestore({
      shell,
      criu: options.criu,
      netns: plan.target.netns,
      imagesDir,
      leaveStopped: true,
    });
    rig.track(restore.pid);
    log(
      `restore ${restore.elapsedMs.toFixed(0)} ms (pid ${restore.pid}, ` +
        (restore.pidWasBusy
          ? `after waiting ${restore.pidWaitMs.toFixed(0)} ms for the old pid to be reaped)`
          : "the old pid was already reaped)"),
    );
    const f0 = performance.now();
    await rig.flip("target");
    Deno.kill(restore.pid, "SIGCONT");
    const flipMs = performance.now() - f0;
    const totalMs = performance.now() - t0;
    await releaseSourceLock({ shell, netns: plan.source.netns, imagesDir });

    await assertInNetns(restore.pid, plan.target.netns);
    await rig.waitForAnswers(conns, 20, Date.now(), 8000);
    await rig.stopClient();
    const downtime = computeDowntime(await rig.clientRecords(), { migrationStartMs: start });
    if (downtime.anyBroken) {
      throw new Error(`client connections broke: ${downtime.brokenConnections.join(", ")}`);
    }
    if (!downtime.countsContinuous) throw new Error("a connection's counter did not continue");
    log(`downtime ${downtime.maxDowntimeMs.toFixed(0)} ms, counters continued`);
    return {
      dumpMs: dump.elapsedMs,
      rewriteMs: rewrite.elapsedMs,
      restoreMs: restore.elapsedMs,
      pidWaitMs: restore.pidWaitMs,
      pidWasBusy: restore.pidWasBusy,
      flipMs,
      totalMs,
      rewrittenSockets: rewrite.changed.length,
      downtime,
      dir: options.keepDir ? rig.dir : undefined,
    };
  } finally {
    await rig.dispose({ keepDir: options.keepDir });
  }
}

/** Checks that a process runs in a named network namespace. */
export async function assertInNetns(pid: number, netns: string): Promise<void> {
  const want = (await Deno.stat(`/run/netns/${netns}`)).ino;
  const got = (await Deno.stat(`/proc/${pid}/ns/net`)).ino;
  if (want !== got) throw new Error(`process ${pid} is not in network namespace ${netns}`);
}
