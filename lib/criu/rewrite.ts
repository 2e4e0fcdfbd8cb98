/**
 * Rewrites the IPv4 address of a migrated server's inet sockets in a CRIU dump.
 *
 * The server's sockets are recorded with its old address: the listening socket bound to it and
 * every established connection with it as source. The target host has a new address, so before
 * `criu restore` every occurrence of the old address in an inet socket's src_addr or dst_addr
 * (also inside IPv4-mapped IPv6 addresses) becomes the new one. Nothing else changes: fields are
 * re-encoded only where a value changed, so the rest of files.img stays byte-identical, and
 * rewriting back (new -> old) restores the original bytes exactly.
 *
 * Only files.img holds addresses: tcp-stream-*.img has sequence numbers and queues, and no
 * netdev/ifaddr images exist because CRIU runs inside the server's network namespace and does
 * not dump it (verified on CRIU 4.2.1; the old address otherwise appears only in memory pages).
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { parseIpv4 } from "../net/addr.ts";
import { type CriuImage, encodeImage, MAGIC, parseImage, writeImage } from "./images.ts";
import {
  decodeMessage,
  encodeMessage,
  fieldUint,
  findField,
  repeatedVarints,
  replaceLenPayload,
  replaceRepeatedVarints,
  WireType,
} from "./protobuf_wire.ts";
import {
  AF_INET,
  AF_INET6,
  FD_TYPE_INETSK,
  FILE_ENTRY,
  formatImageAddress,
  INET_SK,
  ipv4ToWord,
  tcpStateName,
  V4_MAPPED_WORD,
} from "./sockets.ts";

/** Which address to replace with which. */
export interface AddressRewrite {
  from: string;
  to: string;
}

/** A socket whose addresses changed. */
export interface RewrittenSocket {
  ino: number;
  state: string;
  before: { src: string; dst: string };
  after: { src: string; dst: string };
}

export interface RewriteResult {
  image: CriuImage;
  changed: RewrittenSocket[];
}

function parseAddress(text: string, what: string): bigint {
  const ip = parseIpv4(text);
  if (ip === undefined) {
    throw new UserError(
      `Cannot rewrite socket addresses: ${what} "${text}" is not an IPv4 address`,
    );
  }
  return ipv4ToWord(ip);
}

/** Replaces `from` with `to` in one address (1 word IPv4, 4 words IPv4-mapped IPv6). */
function rewriteWords(words: bigint[], family: number, from: bigint, to: bigint): bigint[] {
  if (family === AF_INET && words.length === 1 && words[0] === from) return [to];
  if (
    family === AF_INET6 && words.length === 4 && words[0] === 0n && words[1] === 0n &&
    words[2] === V4_MAPPED_WORD && words[3] === from
  ) {
    return [words[0], words[1], words[2], to];
  }
  return words;
}

/**
 * Rewrites `from` to `to` in every inet socket of a files.img (pure: returns a new image sharing
 * the unchanged entries' bytes).
 */
export function rewriteInetAddresses(files: CriuImage, rewrite: AddressRewrite): RewriteResult {
  if (files.magic !== MAGIC.FILES) {
    throw new UserError("Cannot rewrite socket addresses: the image is not files.img", {
      hint: "pass the files.img of a CRIU 3.x or newer dump",
    });
  }
  const from = parseAddress(rewrite.from, "old address");
  const to = parseAddress(rewrite.to, "new address");
  const changed: RewrittenSocket[] = [];
  const entries = files.entries.map((entry) => {
    const fe = decodeMessage(entry.payload);
    if (fieldUint(findField(fe, FILE_ENTRY.type)) !== FD_TYPE_INETSK) return entry;
    const isk = findField(fe, FILE_ENTRY.isk);
    if (!isk || isk.wireType !== WireType.Len) return entry;
    let sk = decodeMessage(isk.payload!);
    const family = fieldUint(findField(sk, INET_SK.family)) ?? 0;
    const src = repeatedVarints(sk, INET_SK.srcAddr);
    const dst = repeatedVarints(sk, INET_SK.dstAddr);
    const newSrc = rewriteWords(src, family, from, to);
    const newDst = rewriteWords(dst, family, from, to);
    if (newSrc === src && newDst === dst) return entry;
    sk = replaceRepeatedVarints(sk, INET_SK.srcAddr, newSrc);
    sk = replaceRepeatedVarints(sk, INET_SK.dstAddr, newDst);
    const payload = encodeMessage(replaceLenPayload(fe, FILE_ENTRY.isk, encodeMessage(sk)));
    changed.push({
      ino: fieldUint(findField(sk, INET_SK.ino)) ?? 0,
      state: tcpStateName(fieldUint(findField(sk, INET_SK.state)) ?? 0),
      before: { src: formatImageAddress(src), dst: formatImageAddress(dst) },
      after: { src: formatImageAddress(newSrc), dst: formatImageAddress(newDst) },
    });
    return { ...entry, payload };
  });
  return { image: { ...files, entries }, changed };
}

export interface DumpRewriteResult {
  changed: RewrittenSocket[];
  /** Time spent reading, rewriting and writing files.img, in ms. */
  elapsedMs: number;
  /** Size of files.img after the rewrite. */
  bytes: number;
}

/** Where the dump's files.img is kept as CRIU wrote it, before the first rewrite. */
export function originalFilesImage(imagesDir: string): string {
  return `${imagesDir}/files.img.orig`;
}

/**
 * Rewrites the socket addresses in a dump directory's files.img, in place (atomically). The file
 * is left untouched when no socket used the old address. CRIU's original is kept beside it
 * (see {@link originalFilesImage}) so {@link undoAddressRewrite} can restore the process on the
 * source exactly as it was dumped.
 */
export async function rewriteDumpAddresses(
  imagesDir: string,
  rewrite: AddressRewrite,
): Promise<DumpRewriteResult> {
  const t0 = performance.now();
  const path = `${imagesDir}/files.img`;
  const original = await Deno.readFile(path).catch((err) => {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError(`Cannot rewrite socket addresses: ${path} does not exist`, {
        hint: "pass the images directory of a finished criu dump",
      });
    }
    throw err;
  });
  const { image, changed } = rewriteInetAddresses(parseImage(original, path), rewrite);
  const bytes = encodeImage(image);
  if (changed.length) {
    const backup = originalFilesImage(imagesDir);
    const hasBackup = await Deno.stat(backup).then(() => true, () => false);
    if (!hasBackup) await Deno.copyFile(path, backup);
    await writeImage(path, bytes);
  }
  return { changed, elapsedMs: performance.now() - t0, bytes: bytes.length };
}

/**
 * Puts CRIU's original files.img back after {@link rewriteDumpAddresses}. Returns false when the
 * dump was never rewritten.
 */
export async function undoAddressRewrite(imagesDir: string): Promise<boolean> {
  try {
    await Deno.rename(originalFilesImage(imagesDir), `${imagesDir}/files.img`);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
