/**
 * Installs the p4cf CNI plugin for a lab: the executable CRI-O runs (`<binDir>/p4cf`) and the
 * lab's network configuration list (`<confDir>/10-p4cf-<id>.conflist`). The executable is a small
 * shell launcher for `main.ts` rather than a `deno compile` binary, which would need a download
 * this machine may not be able to make. CRI-O runs plugins with a minimal environment (no HOME,
 * maybe no PATH), so the launcher pins Deno's cache directory (where the npm dependencies
 * already are) and a PATH with the tools the plugin runs, and never lets Deno download anything.
 *
 * @module
 */
import { repoRoot } from "../../lab/paths.ts";
import type { Lab } from "../../lab/types.ts";
import { shellQuote } from "../../shell.ts";

/** The plugin's type in network configurations and the name of its executable. */
export const PLUGIN_TYPE = "p4cf";

/** Where `ip`, `nsenter`, `ethtool` and `sysctl` live on Debian and Ubuntu. */
export const LAUNCHER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface LauncherOptions {
  /** Absolute path of the deno executable (`Deno.execPath()`). */
  denoPath: string;
  /** The repository holding `deno.json` and `lib/kubernetes/cni/main.ts`. */
  repo: string;
  /** Deno's cache directory holding the project's dependencies (see {@link currentDenoDir}). */
  denoDir: string;
}

/**
 * The launcher script: runs `main.ts` with all permissions, no prompts, no download
 * (`--cached-only`) and the project's config, passing on its arguments.
 */
export function launcherScript(o: LauncherOptions): string {
  return [
    "#!/bin/sh",
    "# p4cf CNI plugin of P4ContainerFlow (written by lib/kubernetes/cni/install.ts).",
    "# CRI-O runs it with a minimal environment: pin what Deno and the plugin need.",
    `DENO_DIR=${shellQuote(o.denoDir)}`,
    `PATH="${LAUNCHER_PATH}\${PATH:+:\$PATH}"`,
    "DENO_NO_UPDATE_CHECK=1",
    "NO_COLOR=1",
    "export DENO_DIR PATH DENO_NO_UPDATE_CHECK NO_COLOR",
    `exec ${shellQuote(o.denoPath)} run --allow-all --no-prompt --quiet --cached-only --config ${
      shellQuote(`${o.repo}/deno.json`)
    } ${shellQuote(`${o.repo}/lib/kubernetes/cni/main.ts`)} "$@"`,
    "",
  ].join("\n");
}

/** The network configuration list of a lab (`name` is `p4cf-<lab id>`). */
export interface NetConfList {
  cniVersion: "1.0.0";
  name: string;
  plugins: { type: typeof PLUGIN_TYPE; labFile: string; runRoot: string }[];
}

function runRootOf(lab: Lab): string {
  if (!lab.runDir || !lab.id) {
    throw new TypeError(`Lab ${lab.name} has no run directory or id (not made by the lab parser)`);
  }
  return lab.runDir.replace(/\/[^/]+\/?$/, "");
}

/** The network name of a lab's configuration: `p4cf-<lab id>`. */
export function networkName(lab: Lab): string {
  return `${PLUGIN_TYPE}-${lab.id}`;
}

/** The lab's network configuration list: one p4cf plugin pointing at the lab file. */
export function netConfList(lab: Lab): NetConfList {
  return {
    cniVersion: "1.0.0",
    name: networkName(lab),
    plugins: [{ type: PLUGIN_TYPE, labFile: lab.file, runRoot: runRootOf(lab) }],
  };
}

/** Path of the lab's network configuration list in `confDir`. */
export function confListPath(confDir: string, lab: Lab): string {
  return `${confDir}/10-${networkName(lab)}.conflist`;
}

/** Path of the plugin executable in `binDir`. */
export function pluginPath(binDir: string): string {
  return `${binDir}/${PLUGIN_TYPE}`;
}

/**
 * The cache directory this Deno uses, which holds the project's dependencies: `DENO_DIR`, else
 * `$XDG_CACHE_HOME/deno`, else `$HOME/.cache/deno` (Deno's default on Linux); a relative
 * `DENO_DIR` is taken from `cwd`.
 */
export function currentDenoDir(
  env: Record<string, string | undefined>,
  cwd: string = "/",
): string {
  if (env.DENO_DIR) return env.DENO_DIR.startsWith("/") ? env.DENO_DIR : `${cwd}/${env.DENO_DIR}`;
  if (env.XDG_CACHE_HOME) return `${env.XDG_CACHE_HOME}/deno`;
  if (env.HOME) return `${env.HOME}/.cache/deno`;
  throw new TypeError("Cannot tell Deno's cache directory: none of DENO_DIR, XDG_CACHE_HOME, HOME");
}

export interface InstallOptions {
  lab: Lab;
  /** CNI plugin directory CRI-O searches (e.g. `/opt/cni/bin`). */
  binDir: string;
  /** CNI configuration directory CRI-O reads (e.g. `/etc/cni/net.d`). */
  confDir: string;
  /** Deno's cache directory for the launcher (default {@link currentDenoDir} of this process). */
  denoDir?: string;
}

export interface InstalledPlugin {
  /** The launcher, mode 0755. */
  plugin: string;
  /** The lab's network configuration list. */
  confList: string;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, text, { mode });
  await Deno.chmod(tmp, mode); // the umask may have narrowed it
  await Deno.rename(tmp, path);
}

/**
 * Writes the plugin launcher and the lab's network configuration list (atomically, so CRI-O
 * never reads half a file) and returns their paths.
 *
 * ```ts
 * const { plugin, confList } = await installCniPlugin({
 *   lab, binDir: "/opt/cni/bin", confDir: "/etc/cni/net.d",
 * });
 * ```
 */
export async function installCniPlugin(options: InstallOptions): Promise<InstalledPlugin> {
  const { lab, binDir, confDir } = options;
  await Deno.mkdir(binDir, { recursive: true });
  await Deno.mkdir(confDir, { recursive: true });
  const plugin = pluginPath(binDir);
  await writeAtomic(
    plugin,
    launcherScript({
      denoPath: Deno.execPath(),
      repo: repoRoot(),
      denoDir: options.denoDir ?? currentDenoDir(Deno.env.toObject(), Deno.cwd()),
    }),
    0o755,
  );
  const confList = confListPath(confDir, lab);
  await writeAtomic(confList, JSON.stringify(netConfList(lab), null, 2) + "\n", 0o644);
  return { plugin, confList };
}
