/**
 * CRIU image files: read, edit and write them back byte-identical.
 *
 * An image file is a head magic (IMG_COMMON_MAGIC, or IMG_SERVICE_MAGIC for stats and
 * irmap-cache; inventory.img has none), the image's own magic, then entries: a little-endian u32
 * size followed by that many bytes of protobuf. A few image types (tcp-stream, pipes-data,
 * fifo-data, sk-queues, bpfmap-data) follow each entry with raw data whose length the entry
 * states. Raw images (pages-*.img, ifaddr, route, iptables dumps) have no header and are not
 * handled here. Magic values and framing are those of CRIU's criu/include/magic.h and
 * lib/pycriu/images/images.py.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { decodeMessage, fieldUint, findField } from "./protobuf_wire.ts";
import { concatBytes } from "../bytes.ts";

/** Magic numbers of CRIU images (criu/include/magic.h). */
export const MAGIC = {
  IMG_COMMON: 0x54564319,
  IMG_SERVICE: 0x55105940,
  INVENTORY: 0x58313116,
  PSTREE: 0x50273030,
  FDINFO: 0x56213732,
  PAGEMAP: 0x56084025,
  CORE: 0x55053847,
  IDS: 0x54432030,
  VMAS: 0x54123737,
  PIPES: 0x56513555,
  PIPES_DATA: 0x56453709,
  FIFO: 0x58364939,
  FIFO_DATA: 0x59333054,
  SIGACT: 0x55344201,
  UNIXSK: 0x54373943,
  INETSK: 0x56443851,
  PACKETSK: 0x60454618,
  ITIMERS: 0x57464056,
  POSIX_TIMERS: 0x52603957,
  SK_QUEUES: 0x56264026,
  UTSNS: 0x54473203,
  CREDS: 0x54023547,
  IPC_VAR: 0x53115007,
  IPCNS_SHM: 0x46283044,
  IPCNS_MSG: 0x55453737,
  IPCNS_SEM: 0x59573019,
  REG_FILES: 0x50363636,
  EXT_FILES: 0x59255641,
  FS: 0x51403912,
  MM: 0x57492820,
  REMAP_FPATH: 0x59133954,
  GHOST_FILE: 0x52583605,
  TCP_STREAM: 0x51465506,
  EVENTFD_FILE: 0x44523722,
  EVENTPOLL_FILE: 0x45023858,
  EVENTPOLL_TFD: 0x44433746,
  SIGNALFD: 0x57323820,
  INOTIFY_FILE: 0x48424431,
  INOTIFY_WD: 0x54562009,
  MNTS: 0x55563928,
  NETDEV: 0x57373951,
  NETNS: 0x55933752,
  TTY_FILES: 0x59433025,
  TTY_INFO: 0x59453036,
  TTY_DATA: 0x59413026,
  FILE_LOCKS: 0x54323616,
  RLIMIT: 0x57113925,
  FANOTIFY_FILE: 0x55096122,
  FANOTIFY_MARK: 0x56506035,
  SIGNAL: 0x59255647,
  NETLINK_SK: 0x58005614,
  NS_FILES: 0x61394011,
  TUNFILE: 0x57143751,
  CGROUP: 0x59383330,
  TIMERFD: 0x50493712,
  CPUINFO: 0x61404013,
  USERNS: 0x55474906,
  SECCOMP: 0x64413049,
  BINFMT_MISC: 0x67343323,
  AUTOFS: 0x49353943,
  FILES: 0x56303138,
  MEMFD_INODE: 0x48453499,
  TIMENS: 0x43114433,
  PIDNS: 0x61157326,
  BPFMAP_FILE: 0x57506142,
  BPFMAP_DATA: 0x64324033,
  APPARMOR: 0x59423047,
  PIDFD: 0x54435556,
  STATS: 0x57093306,
  IRMAP_CACHE: 0x57004059,
} as const;
export type MagicName = keyof typeof MAGIC;

const MAGIC_NAMES = new Map<number, MagicName>(
  (Object.entries(MAGIC) as [MagicName, number][]).map(([k, v]) => [v, k]),
);

/** The name of a magic number (e.g. "FILES"), or undefined. */
export function magicName(magic: number): MagicName | undefined {
  return MAGIC_NAMES.get(magic);
}

/** One entry: its protobuf payload, and the raw data that follows it in some image types. */
export interface ImageEntry {
  payload: Uint8Array;
  extra?: Uint8Array;
}

export interface CriuImage {
  /** IMG_COMMON or IMG_SERVICE magic before the image magic; absent in inventory.img. */
  headMagic?: number;
  /** The image type's magic (see {@link MAGIC}). */
  magic: number;
  entries: ImageEntry[];
}

/** A file that is not a CRIU protobuf image, or is damaged. */
export class ImageFormatError extends UserError {
  override name = "ImageFormatError";
}

/** Image types whose entries are followed by raw data: how long it is, from the entry. */
const EXTRA_LENGTH: Partial<Record<number, (payload: Uint8Array) => number>> = {
  [MAGIC.TCP_STREAM]: (p) => sumFields(p, [1, 3]), // inq_len + outq_len
  [MAGIC.PIPES_DATA]: (p) => sumFields(p, [2]), // bytes
  [MAGIC.FIFO_DATA]: (p) => sumFields(p, [2]), // bytes
  [MAGIC.SK_QUEUES]: (p) => sumFields(p, [2]), // length
  [MAGIC.BPFMAP_DATA]: (p) => sumFields(p, [2, 3]), // keys_bytes + values_bytes
};

/** Image types with framing this module does not implement. */
const UNSUPPORTED = new Set<number>([
  MAGIC.GHOST_FILE,
  MAGIC.IPCNS_SHM,
  MAGIC.IPCNS_SEM,
  MAGIC.IPCNS_MSG,
]);

function sumFields(payload: Uint8Array, numbers: number[]): number {
  const fields = decodeMessage(payload);
  return numbers.reduce((sum, n) => sum + (fieldUint(findField(fields, n)) ?? 0), 0);
}

/** Parses an image file's bytes. `name` is used in error messages. */
export function parseImage(bytes: Uint8Array, name = "image"): CriuImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string) =>
    new ImageFormatError(`Cannot read CRIU image "${name}": ${what}`, {
      hint: "pass an image file written by CRIU (not a raw image such as pages-*.img)",
    });
  if (bytes.length < 4) throw fail("shorter than a magic number");
  let pos = 0;
  let headMagic: number | undefined;
  const first = view.getUint32(0, true);
  if (first === MAGIC.IMG_COMMON || first === MAGIC.IMG_SERVICE) {
    if (bytes.length < 8) throw fail("ends after the head magic");
    headMagic = first;
    pos = 4;
  }
  const magic = view.getUint32(pos, true);
  pos += 4;
  const kind = magicName(magic);
  if (!kind) throw fail(`unknown magic 0x${magic.toString(16)}`);
  if (UNSUPPORTED.has(magic)) throw fail(`${kind} images are not supported`);
  if (headMagic === undefined && magic !== MAGIC.INVENTORY) {
    throw fail(`${kind} image lacks the common head magic`);
  }
  const extraLength = EXTRA_LENGTH[magic];
  const entries: ImageEntry[] = [];
  while (pos < bytes.length) {
    if (pos + 4 > bytes.length) throw fail(`truncated entry size at byte ${pos}`);
    const size = view.getUint32(pos, true);
    pos += 4;
    if (pos + size > bytes.length) throw fail(`entry at byte ${pos - 4} runs past the end`);
    const payload = bytes.subarray(pos, pos + size);
    pos += size;
    const entry: ImageEntry = { payload };
    if (extraLength) {
      let n: number;
      try {
        n = extraLength(payload);
      } catch (err) {
        throw fail(`entry at byte ${pos - size - 4} is not valid protobuf (${err})`);
      }
      if (pos + n > bytes.length) throw fail(`entry data at byte ${pos} runs past the end`);
      entry.extra = bytes.subarray(pos, pos + n);
      pos += n;
    }
    entries.push(entry);
  }
  return { headMagic, magic, entries };
}

/** Encodes an image back into bytes (identical to the input when nothing changed). */
export function encodeImage(image: CriuImage): Uint8Array {
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  if (image.headMagic !== undefined) parts.push(u32(image.headMagic));
  parts.push(u32(image.magic));
  for (const e of image.entries) {
    parts.push(u32(e.payload.length), e.payload);
    if (e.extra) parts.push(e.extra);
  }
  return concatBytes(parts);
}

/** Reads and parses an image file. */
export async function readImage(path: string): Promise<CriuImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ImageFormatError(`Cannot read CRIU image "${path}": no such file`, {
        hint: "check the images directory (criu dump -D)",
      });
    }
    throw err;
  }
  return parseImage(bytes, path);
}

/**
 * Writes an image file atomically (temporary file, then rename), so a crash never leaves a
 * half-written image for a later restore to choke on.
 */
export async function writeImage(path: string, image: CriuImage | Uint8Array): Promise<void> {
  const bytes = image instanceof Uint8Array ? image : encodeImage(image);
  const tmp = `${path}.tmp-${Deno.pid}`;
  // Keep the original's permissions (CRIU writes images 0600).
  const mode = await Deno.stat(path).then((s) => s.mode ?? 0o600, () => 0o600);
  try {
    await Deno.writeFile(tmp, bytes, { mode: mode & 0o7777 });
    await Deno.rename(tmp, path);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
