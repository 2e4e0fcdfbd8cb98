/**
 * Wrong solution: returns the pid the server had before the move.
 *
 * Fails: finishes and returns
 */
import { releaseSourceLock } from "../../../../lib/criu/checkpoint.ts";
import { encodeImage, parseImage } from "../../../../lib/criu/images.ts";
import { rewriteInetAddresses } from "../../../../lib/criu/rewrite.ts";
import type { ContainerMigration } from "../../../../lib/exercises/contexts.ts";
import { checkpointArgv, removeArgv, restoreArgv } from "../../../../lib/podman/checkpoint.ts";
import { restoredPidPath, writeCriuConfig } from "../../../../lib/podman/criu_config.ts";
import { editTarMember, listTar } from "../../../../lib/podman/tar.ts";

const FILES_IMG = "checkpoint/files.img";

/** Moves the server container into `m.target.pod`; returns the pid of its server there. */
export async function migrateContainer(m: ContainerMigration): Promise<number> {
  const archive = `${m.dir}/checkpoint.tar`;
  const rewritten = `${m.dir}/target.tar`;

  await m.shell.run(checkpointArgv(m.container, archive));
  m.log(`checkpointed ${m.container} into ${archive}`);

  let sockets = 0;
  const edited = editTarMember(await Deno.readFile(archive), FILES_IMG, (bytes) => {
    const result = rewriteInetAddresses(parseImage(bytes, FILES_IMG), {
      from: m.source.ip,
      to: m.target.ip,
    });
    sockets = result.changed.length;
    return encodeImage(result.image);
  });
  await Deno.writeFile(rewritten, edited);
  m.log(`${sockets} socket(s): ${m.source.ip} -> ${m.target.ip}`);

  // CRIU leaves the restored server stopped, and its action script notes the new pid.
  await writeCriuConfig(m.criuConfig, { leaveStopped: true });
  await Deno.remove(restoredPidPath(m.criuConfig)).catch(() => {});
  await m.shell.run(removeArgv(m.container));
  await m.shell.run(restoreArgv(rewritten, await podId(m, m.target.pod)));
  const pid = Number((await Deno.readTextFile(restoredPidPath(m.criuConfig))).trim());
  m.log(`restored ${m.container} into pod ${m.target.pod}: pid ${pid}, stopped`);

  const change = await m.controller.migrateBackend(m.source.name, m.target.name);
  m.log(`switch: ${change.updates} update(s) in ${change.writeMs.toFixed(1)} ms`);

  Deno.kill(pid, "SIGCONT");
  // Later restores of this container run at once again.
  await writeCriuConfig(m.criuConfig);

  m.log(`lock: ${(await releaseLock(m, archive)).join(", ") || "nothing left"}`);
  return m.pid;
}

/** The id of a pod, for `podman container restore --pod`. */
async function podId(m: ContainerMigration, pod: string): Promise<string> {
  const r = await m.shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod]);
  return r.stdout.trim();
}

/** Removes the lock CRIU left in the source pod's namespace (see the starter). */
async function releaseLock(m: ContainerMigration, archive: string): Promise<string[]> {
  const bytes = await Deno.readFile(archive);
  const dir = `${m.dir}/source-images`;
  await Deno.mkdir(dir, { recursive: true });
  for (const member of listTar(bytes)) {
    const name = member.name.replace(/^\.\//, "");
    if (!["inventory.img", "pstree.img", "files.img"].some((f) => name === `checkpoint/${f}`)) {
      continue;
    }
    const data = bytes.subarray(member.dataOffset, member.dataOffset + member.size);
    await Deno.writeFile(`${dir}/${name.slice("checkpoint/".length)}`, data);
  }
  return await releaseSourceLock({ shell: m.shell, netns: m.source.netns, imagesDir: dir });
}
