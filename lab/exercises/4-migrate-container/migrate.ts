// The starter imports what you will need before you use it:
// deno-lint-ignore-file no-unused-vars
/**
 * Exercise 4: migrate the counter server container from pod ex4-h2 to pod ex4-h3 and keep its
 * connections.
 *
 * The check (`deno task lab check 4`) brings up lab.yaml (every host is a Podman pod; the client
 * keeps four connections to the VIP), calls migrateContainer() (see ContainerMigration in
 * lib/exercises/contexts.ts) and watches the client's answers.
 *
 * Same four steps as exercise 3, with Podman doing the CRIU part: the checkpoint is one tar
 * archive (uncompressed, so files.img can be edited in place), and the restore imports it into
 * another pod, whose network namespace holds the new address.
 */
import { releaseSourceLock } from "../../../lib/criu/checkpoint.ts";
import { encodeImage, parseImage } from "../../../lib/criu/images.ts";
import { rewriteInetAddresses } from "../../../lib/criu/rewrite.ts";
import type { ContainerMigration } from "../../../lib/exercises/contexts.ts";
import { checkpointArgv, removeArgv, restoreArgv } from "../../../lib/podman/checkpoint.ts";
import { editTarMember, listTar } from "../../../lib/podman/tar.ts";

/** Moves the server container into `m.target.pod`. */
export async function migrateContainer(m: ContainerMigration): Promise<void> {
  const archive = `${m.dir}/checkpoint.tar`;
  const rewritten = `${m.dir}/target.tar`;

  // 1. Checkpoint: podman container checkpoint --export <archive> --compress none
  //    --tcp-established <container>. The container stops; CRIU's lock stays in the source pod.
  await m.shell.run(checkpointArgv(m.container, archive));
  m.log(`checkpointed ${m.container} into ${archive}`);

  // TODO 2. Rewrite the socket addresses inside the archive, into `rewritten` (keep `archive`
  //    untouched: it is what you would restore on the source if the target failed). The
  //    member "checkpoint/files.img" holds the sockets: editTarMember(bytes, name, edit) gives
  //    you its bytes; parseImage(bytes) -> rewriteInetAddresses(image, { from, to }).image ->
  //    encodeImage(...) gives the new ones.

  // TODO 3. Restore into the target pod. The restored container keeps its name, so remove the
  //    stopped source container first (removeArgv), then import the rewritten archive into the
  //    target pod (restoreArgv(archive, podId)). Podman 4.3 wants the pod's id, not its name:
  //    see podId() below.

  // TODO 4. Point the switch at the target (m.controller.migrateBackend(from, to), host names).

  // 5. Release CRIU's lock in the source pod's namespace, now that the traffic goes elsewhere.
  m.log(`lock: ${(await releaseLock(m, archive)).join(", ") || "nothing left"}`);
}

/** The id of a pod, for `podman container restore --pod`. */
async function podId(m: ContainerMigration, pod: string): Promise<string> {
  const r = await m.shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod]);
  return r.stdout.trim();
}

/**
 * Removes the lock CRIU left in the source pod's namespace. What names it (the dump's run id)
 * is in three images of the checkpoint; releaseSourceLock reads them from a directory.
 */
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
