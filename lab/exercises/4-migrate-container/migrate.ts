// deno-lint-ignore-file require-await no-unused-vars
/**
 * Exercise 4: move the counter server container from pod ex4-h2 to pod ex4-h3 (your lab's pods
 * carry your lab's id instead of ex4) while the client keeps its connections.
 *
 * The check (`sudo deno task lab check 4`) brings up lab.yaml (every host is a Podman pod; the
 * client keeps four connections to the VIP), calls migrateContainer() (ContainerMigration in
 * lib/exercises/contexts.ts) and watches, as in exercise 3: the server processes in both pods,
 * CRIU's lock, the moment you ask the switch to move, and the client's answers.
 *
 * The same moves as exercise 3, with Podman doing the CRIU part (README.md explains the tools):
 *   - checkpoint the container, with its connections, into an archive you can edit;
 *   - make the archive fit the target's address;
 *   - restore it into the target pod, without letting it run yet (a container keeps its name);
 *   - point the switch at the target;
 *   - let the server run;
 *   - take away what the checkpoint left in the source pod (releaseLock below does that);
 *   - return the pid, on this machine, of the server process that holds the connections now.
 */
import { releaseSourceLock } from "../../../lib/criu/checkpoint.ts";
import type { ContainerMigration } from "../../../lib/exercises/contexts.ts";
import { listTar } from "../../../lib/podman/tar.ts";

/** Moves the server container into `m.target.pod`; returns the pid of its server there. */
export async function migrateContainer(m: ContainerMigration): Promise<number> {
  throw new Error("migrateContainer() is not written yet: see README.md");
}

/** The id of a pod: Podman 4.3 restores into a pod given by id, not by name. */
async function podId(m: ContainerMigration, pod: string): Promise<string> {
  const r = await m.shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod]);
  return r.stdout.trim();
}

/**
 * Removes the lock CRIU left in the source pod's namespace, given the checkpoint archive. What
 * names the lock (the dump's run id) is in three images of the archive; releaseSourceLock reads
 * them from a directory. Returns what it removed.
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
