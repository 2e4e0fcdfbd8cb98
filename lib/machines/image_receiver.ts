/**
 * The receiving end of a checkpoint's image files on the target machine: run there (in its
 * namespace), it accepts one TCP connection from the source machine's underlay address, reads
 * the tar stream the source sends (`tar -cf - .`, see `transfer.ts`), writes the regular files
 * into the target's images directory, and ends by writing `received.json` there. Nothing else on
 * disk is shared between the machines: this stream and CRIU's page server are all that crosses.
 *
 * ```
 * deno run --allow-net --allow-read=DIR --allow-write=DIR image_receiver.ts \
 *   ADDR PORT DIR FROM_IP TIMEOUT_MS
 * ```
 *
 * @module
 */
import { listTar } from "../podman/tar.ts";

/** What the receiver writes when it is done, beside the files. */
export interface ReceivedSummary {
  files: number;
  bytes: number;
  /** From the connection's first byte to the last file written. */
  ms: number;
}

/** The name of the summary file. */
export const RECEIVED_FILE = "received.json";

/** A member's name, when it is a plain file name safe to write into the directory. */
export function safeImageName(name: string): string | undefined {
  const base = name.replace(/^\.\//, "");
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(base) && base !== RECEIVED_FILE ? base : undefined;
}

/** The regular files of a tar stream, by safe name; anything else is skipped. */
export function imageFiles(tar: Uint8Array): { name: string; data: Uint8Array }[] {
  return listTar(tar)
    .filter((m) => m.type === "0" || m.type === "\0")
    .flatMap((m) => {
      const name = safeImageName(m.name);
      return name ? [{ name, data: tar.subarray(m.dataOffset, m.dataOffset + m.size) }] : [];
    });
}

/** Accepts the source's connection, writes its files into `dir`, returns the summary. */
export async function receiveImages(
  listener: Deno.Listener<Deno.TcpConn>,
  dir: string,
  fromIp: string,
  timeoutMs: number,
): Promise<ReceivedSummary> {
  const timer = setTimeout(() => {
    console.error(`image receiver: nothing received from ${fromIp} in ${timeoutMs} ms`);
    Deno.exit(124);
  }, timeoutMs);
  try {
    for (;;) {
      const conn = await listener.accept();
      // Only the source machine sends; anything else on the underlay is turned away.
      if (conn.remoteAddr.hostname !== fromIp) {
        conn.close();
        continue;
      }
      const t0 = performance.now();
      const tar = new Uint8Array(await new Response(conn.readable).arrayBuffer());
      const files = imageFiles(tar);
      let bytes = 0;
      for (const f of files) {
        await Deno.writeFile(`${dir}/${f.name}`, f.data, { mode: 0o600 });
        bytes += f.data.length;
      }
      return { files: files.length, bytes, ms: performance.now() - t0 };
    }
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) {
  const [address, port, dir, fromIp, timeoutMs] = Deno.args;
  const listener = Deno.listen({ hostname: address, port: Number(port) });
  console.log(`listening on ${address}:${port}`);
  const summary = await receiveImages(listener, dir, fromIp, Number(timeoutMs));
  listener.close();
  const tmp = `${dir}/${RECEIVED_FILE}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(summary) + "\n");
  await Deno.rename(tmp, `${dir}/${RECEIVED_FILE}`);
  console.log(JSON.stringify(summary));
}
