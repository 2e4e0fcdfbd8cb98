/**
 * Rewriting the socket addresses inside a container checkpoint archive (Podman's export and the
 * kubelet's checkpoint share the layout: CRIU's images under `checkpoint/`), in place, without
 * unpacking it: the TCP sockets of `files.img` move from the source's address to the target's.
 *
 * @module
 */
import { encodeImage, parseImage } from "./images.ts";
import { rewriteInetAddresses } from "./rewrite.ts";
import { editTarMember } from "../podman/tar.ts";

/** CRIU's file image inside a checkpoint archive. */
export const ARCHIVE_FILES_IMG = "checkpoint/files.img";

/** Rewrites the archive at `path`; returns how many sockets changed. */
export async function rewriteArchiveAddresses(
  path: string,
  addresses: { from: string; to: string },
): Promise<number> {
  const archive = await Deno.readFile(path);
  let changed = 0;
  const edited = editTarMember(archive, ARCHIVE_FILES_IMG, (bytes) => {
    const result = rewriteInetAddresses(parseImage(bytes, ARCHIVE_FILES_IMG), addresses);
    changed = result.changed.length;
    return encodeImage(result.image);
  });
  await Deno.writeFile(path, edited);
  return changed;
}
