/**
 * Starting a lab's workloads: processes in a host's network namespace, containers in a host's
 * pod. Planning (argv, files, images) is pure; {@link startWorkload} applies a plan.
 *
 * Every workload writes its output to `<runDir>/workloads/<name>.log`, so the client's JSON
 * lines are in one place whatever the kind (containers use Podman's k8s-file log driver, whose
 * line prefix lib/workloads/client_log.ts removes).
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { UserError } from "../errors.ts";
import type { Host, Lab, Workload } from "../lab/types.ts";
import { LAB_LABEL } from "../lab/naming.ts";
import { CRIU_CONFIG_ANNOTATION, criuConfigPath, writeCriuConfig } from "../podman/criu_config.ts";
import { type Shell, spawnDetached } from "../shell.ts";
import type { HostImageSpec } from "../topology/host_image.ts";
import type { WorkloadPaths } from "./build.ts";

/** Where a workload runs now; kept in `<runDir>/workloads.json` and updated by migrations. */
export interface WorkloadPlacement {
  name: string;
  kind: Workload["kind"];
  host: string;
  /** Process workloads: pid and the file holding it (rewritten after a migration). */
  pid?: number;
  pidFile?: string;
  /** Container workloads: container name (runtime kubernetes: the pod's name). */
  container?: string;
  /** Runtime kubernetes: the pod running it. */
  pod?: string;
  /** Container workloads: the CRIU configuration file named by its annotation. */
  criuConfig?: string;
  logFile: string;
}

export interface WorkloadStartPlan {
  workload: Workload;
  host: Host;
  argv: string[];
  logFile: string;
  pidFile?: string;
  /** Image to build first (container workloads). */
  image?: HostImageSpec;
  /** CRIU configuration file to write before the container starts (container workloads). */
  criuConfig?: string;
}

/** Fills `{vip}`, `{port}` and `{host_ip}` in a workload's command. */
export function substituteCommand(command: readonly string[], lab: Lab, host: Host): string[] {
  const values: Record<string, string> = {
    vip: lab.loadBalancer.vip,
    port: String(lab.loadBalancer.servicePort),
    host_ip: host.ip,
  };
  return command.map((arg) =>
    arg.replace(/\{(vip|port|host_ip)\}/g, (_, key: string) => values[key])
  );
}

/** Absolute path of a workload program: our own builds first, then the machine's PATH. */
export function resolveProgram(name: string, paths: WorkloadPaths): string {
  if (name.startsWith("/")) return name;
  const own = (paths as Record<string, string>)[name];
  if (own) return own;
  const found = which(name);
  if (!found) {
    throw new UserError(`Workload program "${name}" is not installed`, {
      hint: `install it (e.g. \`bash lab/provision.sh\` as root) or give an absolute path`,
    });
  }
  return found;
}

/**
 * Programs a shell workload's script names (`bash -c "while sleep 1; ... | redis-cli ..."`): the
 * image is FROM scratch, so each must be copied in besides the shell.
 */
export function scriptPrograms(argv: readonly string[]): string[] {
  if (!/(^|\/)(ba)?sh$/.test(argv[0])) return [];
  const found = new Set<string>();
  for (const arg of argv.slice(1)) {
    for (const word of arg.split(/[^A-Za-z0-9_.-]+/)) {
      const path = word.length > 1 ? which(word) : undefined;
      if (path) found.add(path);
    }
  }
  return [...found];
}

/** The image a container workload runs: its programs from this machine, FROM scratch. */
export function workloadImageSpec(image: string, argv: readonly string[]): HostImageSpec {
  return {
    tag: image.includes("/") ? image : `localhost/${image}:latest`,
    binaries: [argv[0], ...scriptPrograms(argv)].filter((v, i, a) => a.indexOf(v) === i),
    entrypoint: [argv[0]],
    dirs: ["/tmp", "/data"],
    labels: { "p4cf.image": image },
  };
}

/** Plans how a workload starts (pure apart from looking programs up on PATH). */
export function planWorkloadStart(
  lab: Lab,
  workload: Workload,
  paths: WorkloadPaths,
  runDir: string,
): WorkloadStartPlan {
  const host = lab.hosts.find((h) => h.name === workload.host);
  if (!host) throw new UserError(`Workload ${workload.name}: unknown host ${workload.host}`);
  const command = substituteCommand(workload.command, lab, host);
  const argv = [resolveProgram(command[0], paths), ...command.slice(1)];
  const logFile = `${runDir}/workloads/${workload.name}.log`;
  if (workload.kind === "process") {
    return { workload, host, argv, logFile, pidFile: `${runDir}/workloads/${workload.name}.pid` };
  }
  if (!host.pod) {
    throw new UserError(
      `Workload ${workload.name} is a container but host ${host.name} is not a pod`,
      {
        hint: `set \`kind: pod\` on host ${host.name} or remove \`image\` from the workload`,
      },
    );
  }
  const image = workloadImageSpec(workload.image ?? workload.name, argv);
  const container = workload.container ?? `${lab.id ?? lab.name}-${workload.name}`;
  const criuConfig = criuConfigPath(runDir, workload.name);
  return {
    workload,
    host,
    logFile,
    image,
    criuConfig,
    argv: [
      "podman",
      "run",
      "--detach",
      "--name",
      container,
      "--pod",
      host.pod,
      "--label",
      `${LAB_LABEL}=${lab.name}`,
      "--annotation",
      `${CRIU_CONFIG_ANNOTATION}=${criuConfig}`,
      "--log-driver",
      "k8s-file",
      "--log-opt",
      `path=${logFile}`,
      image.tag,
      // The image's entrypoint is the program itself.
      ...argv.slice(1),
    ],
  };
}

/** Starts a planned workload and returns where it runs. */
export async function startWorkload(
  shell: Shell,
  plan: WorkloadStartPlan,
): Promise<WorkloadPlacement> {
  await Deno.mkdir(plan.logFile.slice(0, plan.logFile.lastIndexOf("/")), { recursive: true });
  // A fresh start begins a fresh log: downtime is computed from it.
  await Deno.writeTextFile(plan.logFile, "");
  const base = { name: plan.workload.name, kind: plan.workload.kind, host: plan.host.name };
  if (plan.workload.kind === "process") {
    const pid = await spawnDetached(shell, plan.argv, {
      netns: plan.host.netns ?? plan.host.name,
      logFile: plan.logFile,
      pidFile: plan.pidFile!,
    });
    return { ...base, pid, pidFile: plan.pidFile, logFile: plan.logFile };
  }
  if (plan.criuConfig) await writeCriuConfig(plan.criuConfig);
  await shell.run(plan.argv);
  const container = plan.argv[plan.argv.indexOf("--name") + 1];
  return { ...base, container, criuConfig: plan.criuConfig, logFile: plan.logFile };
}
