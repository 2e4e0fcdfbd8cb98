/**
 * Runs a vm-check plan ({@link ./plan.ts}) through the shell seam: each step's output goes to its
 * own log file, a progress line with the elapsed time and the log's last line comes every 30 s,
 * and the cleanup steps (destroying the VM) run whatever happened — after a failed step, and
 * after Ctrl-C or SIGTERM, which first end the running step with everything it started.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Progress } from "../progress.ts";
import { defaultShell, findProcesses, killProcessTree, processStat, type Shell } from "../shell.ts";
import { which } from "../capabilities.ts";
import { aptAcquireSettings, debianMirror, readAptSources } from "./apt_mirror.ts";
import type { VmFacts, VmStep, VmStepId } from "./plan.ts";
import { vagrantEnv } from "./plan.ts";
import { formatElapsed, lastLine } from "./report.ts";
import type { VmCheckSettings } from "./settings.ts";

/** How one step ended. */
export interface VmStepResult {
  id: VmStepId;
  title: string;
  status: "ok" | "failed" | "skipped" | "interrupted";
  ms: number;
  log: string;
  /** The command's exit code (124: past its time bound). */
  code?: number;
}

/** The programs vm-check runs on this machine, with the Debian packages that bring them. */
export const HOST_TOOLS: Readonly<Record<string, string>> = {
  vagrant: "vagrant",
  virsh: "libvirt-clients",
  libvirtd: "libvirt-daemon-system",
  virtlogd: "libvirt-daemon-system",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  debootstrap: "debootstrap",
  "mkfs.ext4": "e2fsprogs",
  dnsmasq: "dnsmasq-base",
  rsync: "rsync",
};

/** Where this machine keeps the certificates it trusts beyond the distribution's. */
export const LOCAL_CA_DIR = "/usr/local/share/ca-certificates";

/**
 * What is in place: tools, the libvirt daemons, the box, the mirror.
 *
 * @throws {UserError} when not root, a tool or the vagrant-libvirt plugin is missing, or apt's
 * sources name no Debian 12 mirror.
 */
export async function probeVmFacts(
  s: VmCheckSettings,
  repo: string,
  shell: Shell = defaultShell,
): Promise<VmFacts> {
  if (Deno.uid() !== 0) {
    throw new UserError("vm-check needs root (libvirt's system daemon, debootstrap)", {
      hint: "run it from a root shell: deno task vm-check",
    });
  }
  const missing = Object.keys(HOST_TOOLS).filter((t) => !which(t));
  const plugin = missing.includes("vagrant") ? undefined : await shell.run(
    ["vagrant", "plugin", "list"],
    { check: false, env: vagrantEnv(s), timeoutMs: 120_000 },
  );
  if (plugin && !/vagrant-libvirt/.test(plugin.stdout)) missing.push("vagrant-libvirt");
  if (missing.length) {
    const packages = [
      ...new Set(missing.map((t) => HOST_TOOLS[t] ?? t)),
    ];
    throw new UserError(`vm-check: missing ${missing.join(", ")}`, {
      hint: `install them as root: apt-get install ${packages.join(" ")}`,
    });
  }
  const mirror = debianMirror(readAptSources());
  if (!mirror) {
    throw new UserError(
      "vm-check: this machine's apt sources name no Debian 12 (bookworm) mirror",
      {
        hint: "the box is built from the mirror apt uses here; add one to /etc/apt/sources.list.d/",
      },
    );
  }
  const running = (name: string) =>
    findProcesses((argv) => argv[0]?.split("/").at(-1) === name).length > 0;
  const boxes = await shell.run(["vagrant", "box", "list"], {
    check: false,
    env: vagrantEnv(s),
    timeoutMs: 120_000,
  });
  let caFiles: string[] = [];
  try {
    caFiles = [...Deno.readDirSync(LOCAL_CA_DIR)]
      .filter((e) => e.isFile && e.name.endsWith(".crt"))
      .map((e) => `${LOCAL_CA_DIR}/${e.name}`)
      .sort();
  } catch {
    // None.
  }
  const aptDump = await shell.run(["apt-config", "dump"], { check: false, timeoutMs: 60_000 });
  return {
    aptSettings: aptAcquireSettings(aptDump.stdout),
    boxFile: exists(s.boxFile),
    boxAdded: boxes.stdout.split("\n").some((l) => l.startsWith(`${s.boxName} (libvirt`)),
    virtlogd: running("virtlogd"),
    libvirtd: running("libvirtd"),
    mirror,
    caFiles,
    repo,
  };
}

export interface ApplyOptions {
  shell?: Shell;
  progress: Progress;
  /** Milliseconds between progress lines of a running step (default 30 s). */
  tickMs?: number;
}

/**
 * Runs the steps in order and returns how each ended. A failing `stop` step skips the rest up
 * to the cleanup steps; Ctrl-C (SIGINT) or SIGTERM ends the running step and does the same.
 */
export async function applyVmCheck(
  s: VmCheckSettings,
  steps: readonly VmStep[],
  options: ApplyOptions,
): Promise<VmStepResult[]> {
  const shell = options.shell ?? defaultShell;
  const { progress } = options;
  Deno.mkdirSync(s.logDir, { recursive: true });
  let interrupted = false;
  let cleaning = false;
  const onSignal = () => {
    if (cleaning) {
      progress.warn(`destroying the VM; if you stop this, remove it later with: ${destroyHint(s)}`);
      return;
    }
    interrupted = true;
    progress.warn("interrupted: ending the running step, then destroying the VM");
    for (const pid of childrenOf(Deno.pid)) void killProcessTree(pid);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  const results: VmStepResult[] = [];
  let stopped = false;
  try {
    for (const step of steps) {
      const log = `${s.logDir}/${step.id}.log`;
      if (step.onFailure === "cleanup") cleaning = true;
      else if (stopped || interrupted) {
        results.push({ id: step.id, title: step.title, status: "skipped", ms: 0, log });
        continue;
      }
      const result = await runStep(shell, progress, step, log, options.tickMs ?? 30_000);
      if (interrupted && step.onFailure !== "cleanup" && result.status === "failed") {
        result.status = "interrupted";
      }
      results.push(result);
      if (result.status !== "ok" && step.onFailure === "stop") stopped = true;
      if (step.id === "destroy") await removeLeftoverDomain(shell, progress, s.domain);
    }
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
  return results;
}

async function runStep(
  shell: Shell,
  progress: Progress,
  step: VmStep,
  log: string,
  tickMs: number,
): Promise<VmStepResult> {
  const start = performance.now();
  const done = progress.step(step.title);
  progress.info(`log: ${log}`);
  const ticker = setInterval(() => {
    const last = lastLine(tail(log, 8192));
    progress.info(
      `${formatElapsed(performance.now() - start)}${last ? `: ${clip(last, 110)}` : ""}`,
    );
  }, tickMs);
  let code: number;
  try {
    // The step's output goes to its log (it can be hours long); the seam still bounds it.
    const out = await shell.run(["bash", "-c", 'exec "$@" >>"$0" 2>&1', log, ...step.argv], {
      env: step.env,
      cwd: step.cwd,
      timeoutMs: step.timeoutMs,
      check: false,
    });
    code = out.code;
    if (out.timedOut) {
      Deno.writeTextFileSync(log, `\n${out.stderr.trim().split("\n").at(-1)}\n`, { append: true });
    }
  } finally {
    clearInterval(ticker);
  }
  const ms = performance.now() - start;
  if (code === 0) done();
  else {
    progress.warn(
      `failed (exit ${code}${code === 124 ? ", past its time bound" : ""}) after ` +
        `${formatElapsed(ms)}: ${clip(lastLine(tail(log, 8192)), 140)} (see ${log})`,
    );
  }
  return {
    id: step.id,
    title: step.title,
    status: code === 0 ? "ok" : "failed",
    ms,
    log,
    code,
  };
}

/** A VM that `vagrant destroy` did not remove (e.g. its state was lost) is removed with virsh. */
async function removeLeftoverDomain(shell: Shell, progress: Progress, domain: string) {
  const state = await shell.run(["virsh", "-c", "qemu:///system", "domstate", domain], {
    check: false,
    timeoutMs: 60_000,
  });
  if (state.code !== 0) return;
  progress.warn(`libvirt still has ${domain}: removing it with its storage`);
  await shell.run(["virsh", "-c", "qemu:///system", "destroy", domain], { check: false });
  await shell.run(
    ["virsh", "-c", "qemu:///system", "undefine", domain, "--remove-all-storage"],
    { check: false },
  );
}

/** The command that removes the check's VM by hand. */
export function destroyHint(s: VmCheckSettings): string {
  const env = vagrantEnv(s);
  return `${
    ["VAGRANT_HOME", "VAGRANT_DOTFILE_PATH"].map((k) => `${k}=${env[k]}`).join(" ")
  } vagrant destroy -f`;
}

function childrenOf(pid: number): number[] {
  return findProcesses(() => true).filter((p) => processStat(p)?.ppid === pid);
}

function tail(path: string, bytes: number): string {
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const size = f.statSync().size;
      const n = Math.min(size, bytes);
      f.seekSync(size - n, Deno.SeekMode.Start);
      const buf = new Uint8Array(n);
      let read = 0;
      while (read < n) {
        const r = f.readSync(buf.subarray(read));
        if (r === null) break;
        read += r;
      }
      return new TextDecoder().decode(buf.subarray(0, read));
    } finally {
      f.close();
    }
  } catch {
    return "";
  }
}

function clip(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
