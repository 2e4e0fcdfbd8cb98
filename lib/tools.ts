/**
 * Where this machine's external tools are: BMv2, p4c, CRIU, Podman and the rest. One function,
 * {@link findTool}, answers for each of them, and everything that runs or probes a tool asks it
 * (capability probes, lab switches, the BMv2 image, p4c, CRIU, bench, doctor, the test runner).
 *
 * Order of the search: an explicit setting (`P4CF_BMV2`, `P4CF_P4C`, `CRIU`; a file, or a
 * directory holding the program directly or in `bin/`), else `PATH`, else the usual install
 * directories that a user's `PATH` may lack (`/usr/local/sbin`, `/usr/local/bin`, `/usr/sbin`,
 * …). An explicit setting that names nothing usable is reported as such, never silently
 * replaced by another copy. `p4c-bm2-ss` (p4c's BMv2 back end) is looked for next to the p4c in
 * use first.
 *
 * ```ts
 * const bmv2 = findTool("bmv2");
 * if (bmv2.path) console.log(`BMv2 at ${bmv2.path} (${bmv2.source})`);
 * else console.log(bmv2.reason);
 * ```
 *
 * @module
 */

/** The tools the project runs. */
export type ToolName =
  | "bmv2"
  | "p4c"
  | "p4c-bm2-ss"
  | "criu"
  | "podman"
  | "runc"
  | "redis-server"
  | "ip"
  | "nsenter";

interface ToolSpec {
  /** The program's file name. */
  program: string;
  /** What users call it in messages. */
  label: string;
  /** Environment variable that names it explicitly, if any. */
  setting?: string;
  /** How to get it, for messages (no leading "to get it"). */
  install: string;
  /** Arguments that make it print its version (default `--version`). */
  versionArgs?: readonly string[];
}

const PROVISION = "run `bash lab/provision.sh` as root";
const P4_PROVISION = "install it as root with `P4CF_P4_SOURCE=obs bash lab/provision.sh`";

/** Every tool, with its program name, setting and install hint. */
export const TOOLS: Readonly<Record<ToolName, ToolSpec>> = {
  bmv2: {
    program: "simple_switch_grpc",
    label: "BMv2 (simple_switch_grpc)",
    setting: "P4CF_BMV2",
    install: `${P4_PROVISION}, use the Vagrant VM, or point P4CF_BMV2 at your simple_switch_grpc`,
  },
  p4c: {
    program: "p4c",
    label: "p4c",
    setting: "P4CF_P4C",
    install: `${P4_PROVISION}, or point P4CF_P4C at your p4c`,
  },
  "p4c-bm2-ss": {
    program: "p4c-bm2-ss",
    label: "p4c's BMv2 back end (p4c-bm2-ss)",
    install: `${P4_PROVISION}; with P4CF_P4C it must be next to that p4c`,
  },
  criu: {
    program: "criu",
    label: "CRIU",
    setting: "CRIU",
    install: `${PROVISION}, or point CRIU at your criu`,
  },
  podman: { program: "podman", label: "Podman", install: PROVISION },
  runc: { program: "runc", label: "runc", install: PROVISION },
  "redis-server": { program: "redis-server", label: "redis-server", install: PROVISION },
  ip: { program: "ip", label: "ip (iproute2)", install: PROVISION, versionArgs: ["-V"] },
  nsenter: { program: "nsenter", label: "nsenter (util-linux)", install: PROVISION },
};

/** Searched after PATH: where packages and source builds install, often missing from PATH. */
export const INSTALL_DIRS: readonly string[] = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/** A tool that is there. */
export interface ToolFound {
  tool: ToolName;
  program: string;
  path: string;
  /** Where it was found: the setting's name (`P4CF_BMV2`), `PATH`, `next to p4c`, or a directory. */
  source: string;
  reason?: undefined;
}

/** A tool that is not. */
export interface ToolMissing {
  tool: ToolName;
  program: string;
  path?: undefined;
  source?: undefined;
  /** `<label> is not installed; <how to get it>` (the part before `;` names the problem alone). */
  reason: string;
}

export type ToolLookup = ToolFound | ToolMissing;

/** Reads an environment variable (tests pass their own). */
export type EnvReader = (name: string) => string | undefined;

const processEnv: EnvReader = (name) => Deno.env.get(name);

/**
 * Finds a tool: its explicit setting, else PATH, else {@link INSTALL_DIRS}.
 *
 * @param env where settings and PATH are read (default: this process's environment)
 */
export function findTool(tool: ToolName, env: EnvReader = processEnv): ToolLookup {
  const spec = TOOLS[tool];
  const missing = (reason: string): ToolMissing => ({ tool, program: spec.program, reason });
  const setting = spec.setting ? env(spec.setting)?.trim() : undefined;
  if (spec.setting && setting) {
    const path = inSetting(setting, spec.program, env);
    if (typeof path !== "string") {
      return missing(
        `${spec.setting}=${setting} ${path.problem}; point ${spec.setting} at the ` +
          `${spec.program} program (or a directory holding it), or unset it`,
      );
    }
    return { tool, program: spec.program, path, source: spec.setting };
  }
  if (tool === "p4c-bm2-ss") {
    const p4c = findTool("p4c", env);
    if (p4c.path && p4c.source !== "PATH") {
      const next = `${dirname(p4c.path)}/${spec.program}`;
      if (isExecutable(next)) {
        return { tool, program: spec.program, path: next, source: "next to p4c" };
      }
      if (p4c.source === TOOLS.p4c.setting) {
        return missing(`${spec.label} is not next to ${p4c.path}; ${spec.install}`);
      }
    }
  }
  const onPath = searchDirs(spec.program, (env("PATH") ?? "").split(":"));
  if (onPath) return { tool, program: spec.program, path: onPath, source: "PATH" };
  const elsewhere = searchDirs(spec.program, INSTALL_DIRS);
  if (elsewhere) {
    return { tool, program: spec.program, path: elsewhere, source: dirname(elsewhere) };
  }
  return missing(`${spec.label} is not installed; ${spec.install}`);
}

/** The tool's path, or undefined when it is missing. */
export function toolPath(tool: ToolName, env: EnvReader = processEnv): string | undefined {
  return findTool(tool, env).path;
}

/**
 * What to put in argv[0] to run the tool: the bare program name when PATH finds it (or nothing
 * does: the error then names the program), else its full path.
 */
export function toolCommand(tool: ToolName, env: EnvReader = processEnv): string {
  const found = findTool(tool, env);
  return found.path && found.source !== "PATH" ? found.path : TOOLS[tool].program;
}

/**
 * Replaces a bare program name in argv[0] (e.g. `simple_switch_grpc`) by the tool's
 * {@link toolCommand}; any other argv is returned as it is.
 */
export function withToolCommand(argv: readonly string[], env: EnvReader = processEnv): string[] {
  const tool = (Object.keys(TOOLS) as ToolName[]).find((t) => TOOLS[t].program === argv[0]);
  return tool ? [toolCommand(tool, env), ...argv.slice(1)] : [...argv];
}

/**
 * The environment to run a tool with: p4c finds its back ends and its preprocessor on PATH, so
 * an explicitly set p4c's directory goes first on it. Empty when nothing needs changing.
 */
export function toolEnv(tool: ToolName, env: EnvReader = processEnv): Record<string, string> {
  const found = findTool(tool, env);
  if (!found.path || found.source === "PATH") return {};
  const path = env("PATH") ?? "";
  const dir = dirname(found.path);
  return path.split(":").includes(dir) ? {} : { PATH: path ? `${dir}:${path}` : dir };
}

/**
 * PATH with the directories of the explicitly set tools first, for child processes that run
 * tools by name (the test suite's helpers). Unchanged when no tool is set explicitly.
 */
export function pathWithTools(env: EnvReader = processEnv): string {
  const path = env("PATH") ?? "";
  const dirs: string[] = [];
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    const spec = TOOLS[tool];
    if (!spec.setting || !env(spec.setting)?.trim()) continue;
    const found = findTool(tool, env);
    if (found.path) dirs.push(dirname(found.path));
  }
  const parts = path ? path.split(":") : [];
  const fresh = [...new Set(dirs)].filter((d) => !parts.includes(d));
  return [...fresh, ...parts].join(":");
}

/**
 * The line of `<path> --version` (or `args`) with a version number (else its first line), or
 * undefined when it does not answer within `timeoutMs` (default 5 s).
 */
export async function toolVersion(
  path: string,
  options: { args?: readonly string[]; timeoutMs?: number } = {},
): Promise<string | undefined> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(path, {
      args: [...(options.args ?? ["--version"])],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    return undefined;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 5000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return parseVersionLine(`${dec.decode(out.stdout)}\n${dec.decode(out.stderr)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The version number in a `--version` line ("Version: 4.2.1" → "4.2.1"), else the line. */
export function versionNumber(line: string): string {
  return /\d+\.\d+[\w.+~-]*/.exec(line)?.[0] ?? line;
}

/** The line of a `--version` output that carries the version (pure; see {@link toolVersion}). */
export function parseVersionLine(text: string): string | undefined {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /\d+\.\d+/.test(l)) ?? lines[0];
  return line === undefined ? undefined : line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function inSetting(
  value: string,
  program: string,
  env: EnvReader,
): string | { problem: string } {
  if (!value.includes("/")) {
    const found = searchDirs(value, (env("PATH") ?? "").split(":"));
    return found ?? { problem: "is not a program on PATH" };
  }
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(value);
  } catch {
    return { problem: "does not exist" };
  }
  if (stat.isDirectory) {
    const dir = value.replace(/\/+$/, "");
    for (
      const candidate of [`${dir}/${program}`, `${dir}/bin/${program}`, `${dir}/sbin/${program}`]
    ) {
      if (isExecutable(candidate)) return candidate;
    }
    return { problem: `holds no ${program} (looked in it, bin/ and sbin/)` };
  }
  if (!isExecutable(value)) return { problem: "is not an executable file" };
  // Labs recognise their switch processes by this name (lib/lab/naming.ts).
  if (program === "simple_switch_grpc" && basename(value) !== program) {
    return { problem: `is not named ${program} (labs find their switches by that name)` };
  }
  return value;
}

/** The first `dir/program` that is an executable file, or undefined. */
export function searchDirs(program: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    if (dir && isExecutable(`${dir}/${program}`)) return `${dir}/${program}`;
  }
  return undefined;
}

/** True when `path` is a file with an execute bit. */
export function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
