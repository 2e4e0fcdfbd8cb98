/**
 * The pause image CRI-O needs for every pod sandbox (even without an infra process it creates
 * the sandbox's storage from it): a static `pause` compiled here from ten lines of C, in an image
 * built FROM scratch straight into CRI-O's storage. No registry, nothing downloaded.
 *
 * @module
 */
import { MissingCapabilityError } from "../../errors.ts";
import { workloadBinDir } from "../../workloads/build.ts";
import type { Shell } from "../../shell.ts";
import { PAUSE_IMAGE } from "./config.ts";
import { type ClusterPaths, podmanStorageArgs } from "./paths.ts";

/** Sleeps until stopped, reaping children (what a pod's pause process does). */
export const PAUSE_C =
  `/* The pause process of a pod sandbox (P4ContainerFlow, lib/kubernetes/cluster/pause.ts). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
`;

/** The Containerfile of the pause image (the binary is copied in as `pause`). */
export const PAUSE_CONTAINERFILE = `FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
`;

/** Compiles the pause binary into `.run/bin/` unless it is there from this very source. */
export async function buildPauseBinary(shell: Shell, gcc: string): Promise<string> {
  const dir = workloadBinDir();
  const source = `${dir}/p4cf-pause.c`;
  const binary = `${dir}/p4cf-pause`;
  const same = await Deno.readTextFile(source).then((t) => t === PAUSE_C, () => false);
  const built = await Deno.stat(binary).then(() => true, () => false);
  if (same && built) return binary;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(source, PAUSE_C);
  const tmp = `${binary}.${Deno.pid}.tmp`;
  const r = await shell.run([gcc, "-static", "-Os", "-Wall", "-o", tmp, source], { check: false });
  if (r.code !== 0) {
    throw new MissingCapabilityError(`Cannot compile the pause program: ${r.stderr.trim()}`, {
      hint: "install gcc and the static C library (Debian/Ubuntu: gcc libc6-dev)",
    });
  }
  await Deno.rename(tmp, binary);
  return binary;
}

/** Argv building the pause image into CRI-O's storage from a context directory. */
export function pauseBuildArgv(podman: string, paths: ClusterPaths, context: string): string[] {
  return [podman, ...podmanStorageArgs(paths), "build", "--quiet", "-t", PAUSE_IMAGE, context];
}

/** Builds the pause image into CRI-O's storage unless it is there. */
export async function ensurePauseImage(
  shell: Shell,
  tools: { podman: string; gcc: string },
  paths: ClusterPaths,
): Promise<void> {
  const has = await shell.run(
    [tools.podman, ...podmanStorageArgs(paths), "image", "exists", PAUSE_IMAGE],
    { check: false },
  );
  if (has.code === 0) return;
  const binary = await buildPauseBinary(shell, tools.gcc);
  const context = `${paths.imagesDir}/pause`;
  await Deno.mkdir(context, { recursive: true });
  await Deno.copyFile(binary, `${context}/pause`);
  await Deno.writeTextFile(`${context}/Containerfile`, PAUSE_CONTAINERFILE);
  await shell.run(pauseBuildArgv(tools.podman, paths, context));
}
