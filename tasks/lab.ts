/** `lab up|down|status|exec|list|recover`: declarative labs from lab/*.yaml. */
import { UserError } from "../lib/errors.ts";
import { listLabs } from "../lib/lab/find.ts";
import { loadLab } from "../lib/lab/load.ts";
import { ControllerApi } from "../lib/controller/api_client.ts";
import { kindOf, labDown, labUp } from "../lib/runtime/session.ts";
import { superviseLab } from "../lib/runtime/supervisor.ts";
import { type LabRecoveryReport, recoverLab } from "../lib/runtime/recover.ts";
import { clientKept, formatVerdict } from "../lib/migrate/client_verdict.ts";
import { readPlacements } from "../lib/workloads/placements.ts";
import { consoleProgress } from "../lib/progress.ts";
import { inNetnsPath } from "../lib/shell.ts";
import { formatTable } from "../lib/table.ts";
import type { Allocations } from "../lib/kubernetes/cni/allocate.ts";
import { readAllocations } from "../lib/kubernetes/cni/state.ts";
import { formatEntries } from "./format.ts";
import { status } from "../lib/topology/status.ts";
import { describeShaping, readUnderlayStatus } from "../lib/machines/apply.ts";
import type { Command, OptionValues } from "./command.ts";
import { CHECK_OPTIONS, CHECK_USAGE, verbCheck } from "./exercises.ts";

const USAGE = `Usage: deno task lab <verb> <lab> [options]

<lab> is a lab name from lab/ (e.g. process-migration) or a path to a lab file.

Verbs:
  list                      Labs in lab/
  up <lab>                  Build the topology, start switches, controller and workloads, and
                            verify the client reaches the VIP (idempotent)
  down <lab>                Remove everything the lab created (safe to run twice, also after a
                            crash)
  status <lab>              Hosts, addresses, switch ports, workloads, backends
  exec <lab> <host> -- cmd  Run cmd inside a host's network namespace
  supervise <lab>           (started by up) restart a switch or controller of the lab that died
  recover <lab>             Finish or roll back a migration that was interrupted (migrate killed),
                            from its journal, so the clients' connections survive; up does it first
${CHECK_USAGE}

Options:
  --topology-only   (up) Namespaces, links and pods only: no switch, controller or workloads
  --pcap            (up) Capture a pcap per switch port in the lab's run directory
  --keep-checkpoints  (down) Keep the migrations' checkpoint images (removed by default: they
                    hold the servers' whole memory)
  --force           (up, down) Take over a lab another checkout of this project owns
  --run-root <dir>  Directory holding the labs' run directories (default .run/labs)
  --kubeconfig <f>  (up, Kubernetes labs) Use this cluster instead of starting one; it must run
                    the lab's CNI plugin and CRI-O with CRIU support (see README)
  --json            (status, recover) Print JSON`;

/** `--run-root`: where the labs' run directories are (tests bring labs up under their own). */
function runRootOf(values: OptionValues): string | undefined {
  return typeof values["run-root"] === "string" ? values["run-root"] : undefined;
}

async function verbUp(ref: string, values: OptionValues): Promise<number> {
  const lab = await loadLab(ref, { runRoot: runRootOf(values) });
  const result = await labUp(lab, {
    progress: consoleProgress(),
    topologyOnly: values["topology-only"] === true,
    pcap: values.pcap === true,
    force: values.force === true,
    settings: typeof values.kubeconfig === "string" ? { kubeconfig: values.kubeconfig } : undefined,
  });
  const what = result.topology.alreadyUp ? "was already up" : "is up";
  console.log(`Lab ${lab.name} ${what} (${result.totalMs.toFixed(0)} ms).`);
  if (result.controller) console.log(`Controller: ${result.controller.address}`);
  for (const w of result.workloads) {
    console.log(
      `Workload ${w.name} on ${w.host}: ${w.pid ? `pid ${w.pid}` : w.container}, log ${w.logFile}`,
    );
  }
  return 0;
}

/** The recovery report for the terminal. */
export function formatRecovery(r: LabRecoveryReport): string {
  if (r.outcome === "nothing-to-do") return `Lab ${r.lab}: no interrupted migration to recover.`;
  const j = r.journal!;
  const lines = [
    `${j.workload} (${j.kind}) ${j.from.name} -> ${j.to.name}, interrupted at ${j.step} ` +
    `(${j.stage === "begin" ? "begun" : j.ok ? "done" : "failed"}): ${r.outcome}` +
    (r.host ? `; it runs on ${r.host}${r.pid ? ` as pid ${r.pid}` : ""}` : ""),
    ...r.actions.map((a) => `  - ${a}`),
    `recovered in ${r.totalMs.toFixed(0)} ms`,
  ];
  if (r.client) lines.push(formatVerdict(r.client));
  return lines.join("\n");
}

async function verbRecover(ref: string, values: OptionValues): Promise<number> {
  const lab = await loadLab(ref, { runRoot: runRootOf(values) });
  // Connections in TCP's retransmission backoff answer at their next try: wait for it.
  const report = await recoverLab(lab, { progress: consoleProgress(), clientWaitMs: 15_000 });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatRecovery(report));
  if (report.outcome === "nothing-to-do" || report.outcome === "stale") return 0;
  return report.outcome !== "lost" && clientKept(report.client) ? 0 : 2;
}

async function verbStatus(ref: string, values: OptionValues): Promise<number> {
  const lab = await loadLab(ref, { runRoot: runRootOf(values) });
  const st = await status(lab);
  const placements = lab.runDir ? await readPlacements(lab.runDir) : [];
  const api = await ControllerApi.forLab(lab, { timeoutMs: 2000 }).catch(() => undefined);
  const backends = await api?.backends().catch(() => undefined);
  const entries = await api?.entries().catch(() => undefined);
  // A Kubernetes lab's slots are held by pods, whose namespaces hold the slots' interfaces.
  const slots = lab.runtime === "kubernetes" && lab.runDir
    ? await readAllocations(lab.runDir).catch((): Allocations => ({}))
    : {};
  if (values.json) {
    console.log(
      JSON.stringify({ ...st, workloads: placements, backends, entries, slots }, null, 2),
    );
    return 0;
  }
  console.log(`Lab ${st.lab} (${st.id}): ${st.phase}${st.since ? ` since ${st.since}` : ""}\n`);
  console.log(formatTable(
    ["host", "kind", "netns", "address", "mac", "present"],
    st.hosts.map((h) => [
      h.name,
      h.kind,
      slots[h.name] ? `pod ${slots[h.name].pod}` : h.netns,
      h.addresses.join(",") || (slots[h.name] ? `${h.ip}/${h.prefix}` : `(${h.ip}/${h.prefix})`),
      h.mac,
      h.present ? "yes" : "no",
    ]),
  ));
  // A lab with machines: each machine's underlay, with what its shaping got (lib/machines/).
  const underlay = lab.runDir ? await readUnderlayStatus(lab.runDir) : [];
  if (underlay.length) {
    console.log();
    for (const u of underlay) console.log(`machine ${describeShaping(u)}`);
  }
  console.log();
  console.log(formatTable(
    ["switch", "port", "iface", "peer", "up", "running"],
    st.switches.flatMap((s) =>
      s.ports.map((p) => [
        s.name,
        String(p.port),
        p.iface,
        p.peer,
        p.up ? "yes" : "no",
        s.running ? `pid ${s.pid ?? s.container?.name}` : "no",
      ])
    ),
  ));
  if (placements.length) {
    console.log();
    console.log(formatTable(
      ["workload", "kind", "host", "pid/container", "log"],
      placements.map((p) => [p.name, p.kind, p.host, String(p.pid ?? p.container), p.logFile]),
    ));
  }
  if (backends) {
    console.log();
    console.log(formatTable(
      ["backend", "host", "ip", "slots"],
      backends.backends.map((b) => [String(b.id), b.host, b.ip, String(b.slots)]),
    ));
    console.log(`VIP ${backends.vip}:${backends.servicePort} on ${backends.switch}`);
  }
  if (entries) {
    console.log();
    console.log(formatEntries(entries));
  } else if (st.phase !== "down") {
    console.log("\n(controller not reachable: no table entries shown)");
  }
  if (st.migrationPid) {
    console.log(
      `\nA migration is running (pid ${st.migrationPid}): Podman was not asked and problems were ` +
        "not looked for (a Podman listing can stall the migration's restore); ask again after it.",
    );
  }
  if (st.problems.length) {
    console.log(`\nProblems:\n${st.problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return st.problems.length ? 1 : 0;
}

async function verbExec(ref: string, rest: string[], values: OptionValues): Promise<number> {
  const [hostName, ...cmd] = rest;
  const lab = await loadLab(ref, { runRoot: runRootOf(values) });
  const host = lab.hosts.find((h) => h.name === hostName);
  if (!host) {
    throw new UserError(`Lab ${lab.name} has no host "${hostName ?? ""}"`, {
      hint: `hosts are: ${
        lab.hosts.map((h) => h.name).join(", ")
      }; usage: lab exec <lab> <host> -- cmd`,
    });
  }
  if (cmd.length === 0) cmd.push("bash");
  // A Kubernetes lab's host is wherever the pod that took the slot lives.
  const netns = await (await kindOf(lab)).netnsOf(lab, host.name);
  if (!netns || !(await Deno.stat(netns).then(() => true, () => false))) {
    throw new UserError(`Host ${host.name} of lab ${lab.name} does not exist (is the lab up?)`, {
      hint: `bring it up with \`deno task lab up ${lab.name}\``,
    });
  }
  const argv = inNetnsPath(netns, cmd);
  const child = new Deno.Command(argv[0], { args: argv.slice(1), stdin: "inherit" }).spawn();
  return (await child.status).code;
}

export const lab: Command = {
  summary: "Bring labs up and down, show their status, run commands in their hosts",
  usage: USAGE,
  // Also the registry's list (tasks/commands.ts), which this one replaces: it lacks "recover".
  options: {
    ...CHECK_OPTIONS,
    "topology-only": { type: "boolean" },
    pcap: { type: "boolean" },
    json: { type: "boolean" },
    solution: { type: "boolean" },
    keep: { type: "boolean" },
    "keep-checkpoints": { type: "boolean" },
    force: { type: "boolean" },
    kubeconfig: { type: "string" },
    "run-root": { type: "string" },
  },
  async run(values, positionals) {
    const [verb, ref, ...rest] = positionals;
    if (verb === "list") {
      for (const name of listLabs()) console.log(name);
      return 0;
    }
    if (verb === "check") return await verbCheck(ref, values);
    if (!verb || !["up", "down", "status", "exec", "supervise", "recover"].includes(verb)) {
      throw new UserError(`lab: unknown verb "${verb ?? ""}"`, {
        hint: "verbs are list, up, down, status, exec, check, recover (see `deno task lab --help`)",
      });
    }
    if (!ref) {
      throw new UserError(`lab ${verb}: which lab?`, {
        hint: `give a lab name (${listLabs().join(", ")}) or a path to a lab file`,
      });
    }
    switch (verb) {
      case "up":
        return await verbUp(ref, values);
      case "down": {
        const named = runRootOf(values) ? await loadLab(ref, { runRoot: runRootOf(values) }) : ref;
        const result = await labDown(named, {
          progress: consoleProgress(),
          keepCheckpoints: values["keep-checkpoints"] === true,
          force: values.force === true,
        });
        console.log(`Lab ${ref} is down (${result.totalMs.toFixed(0)} ms).`);
        return 0;
      }
      case "status":
        return await verbStatus(ref, values);
      case "recover":
        return await verbRecover(ref, values);
      case "supervise": {
        // Started by `lab up` (lib/runtime/supervisor.ts); runs until the lab is down.
        const lab = await loadLab(ref, { runRoot: runRootOf(values) });
        const stop = new AbortController();
        Deno.addSignalListener("SIGTERM", () => stop.abort());
        await superviseLab(lab, { progress: consoleProgress(), signal: stop.signal });
        return 0;
      }
      default:
        return await verbExec(ref, rest, values);
    }
  },
};
