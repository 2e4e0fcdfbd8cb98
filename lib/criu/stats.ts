/**
 * CRIU's own account of a dump: `stats-dump` in the images directory (images/stats.proto), read
 * natively. It says how long CRIU kept the tasks frozen and how many memory pages it wrote, which
 * is what pre-dump rounds are meant to cut.
 *
 * @module
 */
import { MAGIC, parseImage } from "./images.ts";
import { decodeMessage, fieldUint, findField } from "./protobuf_wire.ts";

/** Times in milliseconds, counts in 4 KiB pages. */
export interface DumpStats {
  /** Stopping the tasks. */
  freezingMs: number;
  /** From frozen until the dump was written and the tasks were killed (or resumed). */
  frozenMs: number;
  /** Collecting the memory pages. */
  memdumpMs: number;
  /** Writing them to the images. */
  memwriteMs: number;
  pagesScanned: number;
  /** Pages left out because an earlier pre-dump holds them unchanged. */
  pagesSkippedParent: number;
  pagesWritten: number;
}

/** Decodes a `stats-dump` file's bytes. */
export function parseDumpStats(bytes: Uint8Array, name = "stats-dump"): DumpStats {
  const image = parseImage(bytes, name);
  if (image.magic !== MAGIC.STATS || image.entries.length !== 1) {
    throw new Error(`${name} is not a CRIU stats image`);
  }
  const dump = findField(decodeMessage(image.entries[0].payload), 1)?.payload;
  if (!dump) throw new Error(`${name} holds no dump statistics (a restore's stats?)`);
  const fields = decodeMessage(dump);
  const n = (field: number) => fieldUint(findField(fields, field)) ?? 0;
  return {
    freezingMs: n(1) / 1000,
    frozenMs: n(2) / 1000,
    memdumpMs: n(3) / 1000,
    memwriteMs: n(4) / 1000,
    pagesScanned: n(5),
    pagesSkippedParent: n(6),
    pagesWritten: n(7),
  };
}

/** Reads `<imagesDir>/stats-dump`, which CRIU writes after every dump and pre-dump. */
export async function readDumpStats(imagesDir: string): Promise<DumpStats> {
  const file = `${imagesDir}/stats-dump`;
  return parseDumpStats(await Deno.readFile(file), file);
}
