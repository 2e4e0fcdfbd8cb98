/**
 * The p4cf CNI plugin: the program CRI-O runs (through the launcher `install.ts` writes) to give
 * a Kubernetes pod one of the lab's slots, i.e. the veth cabled to a BMv2 port, with the slot's
 * address and MAC. ADD moves the slot's interface from its parking namespace into the pod's;
 * DEL moves it back (or re-creates it when the pod's namespace took it along); CHECK verifies it;
 * VERSION lists the spec versions. This module runs the pure plans of `plan.ts` through the
 * {@link Shell} seam and keeps the state of `state.ts`; {@link runCni} is the whole call, so tests
 * drive it with a recording shell, and only the `import.meta.main` block touches stdio and exits.
 *
 * @module
 */
import { CommandError } from "../../errors.ts";
import { loadLab } from "../../lab/load.ts";
import type { Host, Lab } from "../../lab/types.ts";
import { defaultShell, netnsPath, type Shell } from "../../shell.ts";
import { allocate, chooseSlot, release, slotOf } from "./allocate.ts";
import {
  CNI_CODES,
  CniError,
  type CniRequest,
  parseInvocation,
  SUPPORTED_VERSIONS,
  versionOf,
} from "./args.ts";
import {
  addArgv,
  addResult,
  addrShowArgv,
  checkProblems,
  configureSlotArgv,
  defaultRouteArgv,
  delArgv,
  inParking,
  inPod,
  linkExistsArgv,
  netnsTarget,
  parkingNetns,
  type PodNet,
  recreateVethArgv,
  switchIface,
} from "./plan.ts";
import {
  appendCniLog,
  readAllocations,
  readReservations,
  withCniLock,
  writeAllocations,
} from "./state.ts";

export interface CniOptions {
  /** Runs the commands (default: the real shell). */
  shell?: Shell;
  /** Receives notes for the runtime's log, e.g. a re-created veth (default: stderr). */
  warn?: (message: string) => void;
}

/** What the call prints on stdout and its exit status. */
export interface CniOutcome {
  exitCode: 0 | 1;
  stdout: string;
}

/** Longest a single `ip`/`nsenter`/`ethtool` may take before the call fails. */
const COMMAND_TIMEOUT_MS = 20_000;

interface Ctx {
  shell: Shell;
  warn: (message: string) => void;
  lab: Lab;
  runDir: string;
  req: CniRequest;
}

async function runAll(ctx: Ctx, argvs: string[][], what: string): Promise<void> {
  for (const argv of argvs) {
    try {
      await ctx.shell.run(argv, { timeoutMs: COMMAND_TIMEOUT_MS });
    } catch (err) {
      const detail = err instanceof CommandError
        ? (err.stderr || err.stdout).trim().split("\n").slice(-3).join(" ")
        : (err as Error).message;
      throw new CniError(
        CNI_CODES.commandFailed,
        `Could not ${what}: \`${argv.join(" ")}\` failed${detail ? `: ${detail}` : ""}`,
        `see ${ctx.runDir}/cni/cni.log; \`deno task lab status ${ctx.lab.name}\` shows the slots`,
        { cause: err },
      );
    }
  }
}

async function succeeds(ctx: Ctx, argv: string[]): Promise<boolean> {
  const out = await ctx.shell.run(argv, { check: false, timeoutMs: COMMAND_TIMEOUT_MS });
  return out.code === 0;
}

function slotHost(lab: Lab, name: string): Host | undefined {
  return lab.hosts.find((h) => h.name === name && h.kind === "slot");
}

async function add(ctx: Ctx): Promise<{ slot: string; stdout: string }> {
  const { lab, req, runDir } = ctx;
  const pod: PodNet = { netns: req.netns, ifname: req.ifname };
  netnsTarget(req.netns); // an unusable CNI_NETNS fails before anything changes
  return await withCniLock(runDir, async () => {
    const allocations = await readAllocations(runDir);
    const choice = chooseSlot(
      lab,
      allocations,
      await readReservations(runDir),
      req.pod!,
      req.containerId,
    );
    const host = choice.host;
    if (choice.reason === "existing") {
      const held = allocations[host.name];
      const result = addResult(req.config.cniVersion, host, {
        netns: held.netns,
        ifname: held.ifname,
      });
      return { slot: host.name, stdout: JSON.stringify(result) };
    }
    if (!(await succeeds(ctx, linkExistsArgv(inParking(lab, host), host.iface)))) {
      throw new CniError(
        CNI_CODES.slotMissing,
        `Slot ${host.name}'s interface ${host.iface} is not in its parking namespace ${
          parkingNetns(lab, host)
        }, so pod ${req.pod!.name} cannot get it`,
        `is lab ${lab.name} up? \`deno task lab up ${lab.name}\` (re)creates the slots`,
      );
    }
    // Claimed before anything moves: if this call dies half-way, the DEL the runtime sends for
    // the failed sandbox finds the slot and puts its interface back.
    const claimed = allocate(allocations, host.name, {
      pod: req.pod!.name,
      namespace: req.pod!.namespace,
      containerId: req.containerId,
      netns: req.netns,
      ifname: req.ifname,
    });
    await writeAllocations(runDir, claimed);
    try {
      await runAll(ctx, addArgv(lab, host, pod), `give slot ${host.name} to pod ${req.pod!.name}`);
    } catch (err) {
      await undoAdd(ctx, host, pod).then(
        () => writeAllocations(runDir, allocations),
        (undoErr) =>
          ctx.warn(
            `p4cf: could not put slot ${host.name} back (${(undoErr as Error).message}); ` +
              "the runtime's DEL for this sandbox will retry",
          ),
      );
      throw err;
    }
    return { slot: host.name, stdout: JSON.stringify(addResult(req.config.cniVersion, host, pod)) };
  });
}

/** After a failed ADD: the interface goes back to the slot, wherever the failure left it. */
async function undoAdd(ctx: Ctx, host: Host, pod: PodNet): Promise<void> {
  if (await succeeds(ctx, linkExistsArgv(inPod(pod.netns), pod.ifname))) {
    await runAll(ctx, delArgv(ctx.lab, host, pod), `put slot ${host.name} back`);
  }
}

async function del(ctx: Ctx): Promise<{ slot?: string }> {
  const { lab, req, runDir } = ctx;
  return await withCniLock(runDir, async () => {
    const allocations = await readAllocations(runDir);
    const name = slotOf(allocations, req.containerId);
    if (name === undefined) return {}; // never ours, or already deleted: DEL is idempotent
    const held = allocations[name];
    const host = slotHost(lab, name);
    if (host) await returnSlot(ctx, host, { netns: req.netns || held.netns, ifname: req.ifname });
    else ctx.warn(`p4cf: slot ${name} is no longer in lab ${lab.name}; released`);
    await writeAllocations(runDir, release(allocations, req.containerId).allocations);
    return { slot: name };
  });
}

/** How long a dead pod namespace's veth may take to go (the kernel cleans namespaces up later). */
const VETH_GONE_WAIT_MS = 3000;

/**
 * Whether the slot's switch-side interface still exists, waiting a little for it to go: when the
 * pod's namespace has just died, the kernel removes its veth pairs asynchronously.
 */
async function switchSideLingers(ctx: Ctx, host: Host): Promise<boolean> {
  const argv = ["ip", "link", "show", "dev", switchIface(ctx.lab, host)];
  const deadline = Date.now() + VETH_GONE_WAIT_MS;
  while (await succeeds(ctx, argv)) {
    if (Date.now() >= deadline) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Puts a slot's interface back in its parking namespace, configured, from wherever it is. */
async function returnSlot(ctx: Ctx, host: Host, pod: PodNet): Promise<void> {
  const { lab } = ctx;
  const parking = parkingNetns(lab, host);
  if (!(await succeeds(ctx, ["test", "-e", netnsPath(parking)]))) {
    ctx.warn(`p4cf: parking namespace ${parking} is gone (lab ${lab.name} down?); slot released`);
    return;
  }
  if (pod.netns && await succeeds(ctx, linkExistsArgv(inPod(pod.netns), pod.ifname))) {
    await runAll(ctx, delArgv(lab, host, pod), `return slot ${host.name} from its pod`);
  } else if (await succeeds(ctx, linkExistsArgv(inParking(lab, host), host.iface))) {
    await runAll(ctx, configureSlotArgv(lab, host), `configure slot ${host.name}`);
  } else if (await switchSideLingers(ctx, host)) {
    throw new CniError(
      CNI_CODES.slotMissing,
      `Slot ${host.name}'s interface is neither in the pod nor in ${parking}, but its switch side ` +
        `${switchIface(lab, host)} exists: the interface was moved elsewhere`,
      `find it with \`ip -all netns exec ip link\`, or \`deno task lab down ${lab.name}\` and up`,
    );
  } else {
    await runAll(ctx, recreateVethArgv(lab, host), `re-create slot ${host.name}'s veth pair`);
    ctx.warn(
      `p4cf: slot ${host.name}'s veth pair went away with the pod's namespace; re-created ` +
        `${switchIface(lab, host)} <-> ${parking}/${host.iface}. BMv2 may have lost port ` +
        `${host.switchPort} of ${host.switch}: \`deno task lab up ${lab.name}\` again fixes it`,
    );
  }
}

async function check(ctx: Ctx): Promise<{ slot: string }> {
  const { lab, req, runDir } = ctx;
  const name = slotOf(await readAllocations(runDir), req.containerId);
  const host = name === undefined ? undefined : slotHost(lab, name);
  if (!host) {
    throw new CniError(
      CNI_CODES.unknownContainer,
      `Container ${req.containerId} holds no slot of lab ${lab.name}`,
      "ADD it first (the runtime does when it creates the pod)",
    );
  }
  const inside = inPod(req.netns);
  const shellOut = (argv: string[]) =>
    ctx.shell.run(argv, { check: false, timeoutMs: COMMAND_TIMEOUT_MS }).then((r) =>
      r.code === 0 ? r.stdout : "[]"
    );
  const problems = checkProblems(
    host,
    req.ifname,
    await shellOut(addrShowArgv(inside, req.ifname)),
    await shellOut(defaultRouteArgv(inside)),
  );
  if (problems.length) {
    throw new CniError(
      CNI_CODES.checkFailed,
      `Pod ${req.pod?.name ?? req.containerId}'s slot ${host.name} is misconfigured: ${
        problems.join("; ")
      }`,
      "delete the pod (its DEL returns the slot and its replacement gets it configured)",
    );
  }
  return { slot: host.name };
}

async function loadKubernetesLab(req: CniRequest): Promise<Lab> {
  let lab: Lab;
  try {
    lab = await loadLab(req.config.labFile, { runRoot: req.config.runRoot });
  } catch (err) {
    throw new CniError(
      CNI_CODES.invalidConfig,
      `Cannot load lab file ${req.config.labFile}: ${(err as Error).message}`,
      "the network config's labFile must be the lab's file; re-install the plugin with its lab",
      { cause: err },
    );
  }
  if (lab.runtime !== "kubernetes" || !lab.runDir) {
    throw new CniError(
      CNI_CODES.invalidConfig,
      `Lab ${lab.name} (${req.config.labFile}) is not a Kubernetes lab`,
      "the p4cf plugin serves labs with runtime: kubernetes",
    );
  }
  return lab;
}

function logLine(
  req: CniRequest,
  slot: string | undefined,
  outcome: string,
  ms: number,
): string {
  const pod = req.pod ? `${req.pod.namespace ? `${req.pod.namespace}/` : ""}${req.pod.name}` : "-";
  return [
    new Date().toISOString(),
    req.command,
    `pod=${pod}`,
    `container=${req.containerId.slice(0, 12)}`,
    `slot=${slot ?? "-"}`,
    outcome.replaceAll(/\s*\n\s*/g, " "),
    `${Math.round(ms)}ms`,
  ].join(" ");
}

/**
 * Runs one plugin call: `env` holds the CNI_* variables, `stdin` the network configuration.
 * Never throws: every failure becomes a CNI error result (exit status 1).
 *
 * ```ts
 * const { exitCode, stdout } = await runCni(Deno.env.toObject(), stdinText);
 * ```
 */
export async function runCni(
  env: Record<string, string | undefined>,
  stdin: string,
  options: CniOptions = {},
): Promise<CniOutcome> {
  const t0 = performance.now();
  const warn = options.warn ?? ((m: string) => console.error(m));
  let req: CniRequest | undefined;
  let runDir: string | undefined;
  let slot: string | undefined;
  let outcome: CniOutcome;
  let logged = "ok";
  try {
    const invocation = parseInvocation(env, stdin);
    if (invocation.command === "VERSION") {
      const cniVersion = (SUPPORTED_VERSIONS as readonly string[]).includes(invocation.cniVersion)
        ? invocation.cniVersion
        : "1.0.0";
      return {
        exitCode: 0,
        stdout: JSON.stringify({ cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] }),
      };
    }
    req = invocation;
    let lab: Lab;
    try {
      lab = await loadKubernetesLab(req);
    } catch (err) {
      if (req.command !== "DEL") throw err;
      // A DEL must not fail forever because the lab file went away: nothing is left to undo.
      warn(`p4cf: ${(err as Error).message}; nothing to release`);
      return { exitCode: 0, stdout: "" };
    }
    runDir = lab.runDir!;
    const ctx: Ctx = { shell: options.shell ?? defaultShell, warn, lab, runDir, req };
    if (req.command === "ADD") {
      const done = await add(ctx);
      slot = done.slot;
      outcome = { exitCode: 0, stdout: done.stdout };
    } else if (req.command === "DEL") {
      slot = (await del(ctx)).slot;
      if (slot === undefined) logged = "ok (no slot held)";
      outcome = { exitCode: 0, stdout: "" };
    } else {
      slot = (await check(ctx)).slot;
      outcome = { exitCode: 0, stdout: "" };
    }
  } catch (err) {
    const cniErr = err instanceof CniError ? err : new CniError(
      CNI_CODES.ioFailure,
      `p4cf plugin failed: ${(err as Error)?.message ?? String(err)}`,
      "this is a bug or a machine problem; the runtime's log has the call",
      { cause: err },
    );
    logged = `error ${cniErr.code}: ${cniErr.message}`;
    outcome = {
      exitCode: 1,
      stdout: JSON.stringify(cniErr.toResult(req?.config.cniVersion ?? versionOf(stdin))),
    };
  }
  if (req && runDir) {
    await appendCniLog(runDir, logLine(req, slot, logged, performance.now() - t0)).catch(() => {});
  }
  return outcome;
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, text: string) {
  const data = new TextEncoder().encode(text);
  for (let n = 0; n < data.length;) n += await w.write(data.subarray(n));
}

if (import.meta.main) {
  const stdin = await new Response(Deno.stdin.readable).text();
  const { exitCode, stdout } = await runCni(Deno.env.toObject(), stdin);
  if (stdout) await writeAll(Deno.stdout, stdout + "\n");
  Deno.exit(exitCode);
}
