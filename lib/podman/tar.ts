/**
 * In-place editing of one file inside an uncompressed tar archive, such as the checkpoint that
 * `podman container checkpoint --export --compress none` writes. Only the edited member's header
 * and data change; every other byte of the archive is copied as it was. Extracting and re-packing
 * with `tar` would take longer than the whole CRIU restore, and this runs inside the frozen window.
 *
 * @module
 */

const BLOCK = 512;

export interface TarMember {
  name: string;
  /** Offset of the member's header block. */
  headerOffset: number;
  /** Offset and size of its data. */
  dataOffset: number;
  size: number;
  type: string;
}

function readString(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && buf[end] !== 0) end++;
  return new TextDecoder().decode(buf.subarray(start, end));
}

function readSize(buf: Uint8Array, start: number): number {
  // GNU base-256 encoding for large sizes: high bit of the first byte set.
  if (buf[start] & 0x80) {
    let n = 0;
    for (let i = start + 1; i < start + 12; i++) n = n * 256 + buf[i];
    return n;
  }
  const text = readString(buf, start, 12).trim();
  return text ? Number.parseInt(text, 8) : 0;
}

/** PAX extended header records: "len key=value\n". */
function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(" ", i);
    if (space < 0) break;
    const len = Number.parseInt(text.slice(i, space), 10);
    if (!(len > 0)) break;
    const record = text.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Lists the members of an archive (PAX and GNU long names resolved). */
export function listTar(buf: Uint8Array): TarMember[] {
  const members: TarMember[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= buf.length) {
    const header = buf.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const type = String.fromCharCode(header[156] || 0x30);
    const size = readSize(header, 124);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      longName = parsePax(buf.subarray(dataOffset, dataOffset + size)).path ?? longName;
    } else if (type === "L") {
      longName = readString(buf, dataOffset, size);
    } else if (type !== "g") {
      const prefix = readString(header, 345, 155);
      const base = readString(header, 0, 100);
      const name = longName ?? (prefix ? `${prefix}/${base}` : base);
      members.push({ name, headerOffset: offset, dataOffset, size, type });
      longName = undefined;
    }
    offset = next;
  }
  return members;
}

function writeOctal(header: Uint8Array, start: number, len: number, value: number): void {
  const text = value.toString(8).padStart(len - 1, "0") + "\0";
  header.set(new TextEncoder().encode(text), start);
}

function fixChecksum(header: Uint8Array): void {
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  const text = sum.toString(8).padStart(6, "0") + "\0 ";
  header.set(new TextEncoder().encode(text), 148);
}

/** Normalises "./checkpoint/files.img" and "checkpoint/files.img" to the same name. */
function sameName(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/^\.\//, "");
  return norm(a) === norm(b);
}

/**
 * Returns a new archive in which the member `name` holds `edit(oldData)`. Throws if the member
 * is missing or carries its size in a PAX header (never the case for checkpoint images).
 */
export function editTarMember(
  buf: Uint8Array,
  name: string,
  edit: (data: Uint8Array) => Uint8Array,
): Uint8Array {
  const member = listTar(buf).find((m) =>
    sameName(m.name, name) && (m.type === "0" || m.type === "\0")
  );
  if (!member) throw new Error(`No regular file "${name}" in the archive`);
  const oldData = buf.subarray(member.dataOffset, member.dataOffset + member.size);
  const newData = edit(oldData);
  if (newData.length >= 8 ** 11) throw new Error(`"${name}" would be too large for a tar header`);
  const oldEnd = member.dataOffset + Math.ceil(member.size / BLOCK) * BLOCK;
  const paddedLen = Math.ceil(newData.length / BLOCK) * BLOCK;
  const out = new Uint8Array(buf.length - (oldEnd - member.dataOffset) + paddedLen);
  out.set(buf.subarray(0, member.dataOffset), 0);
  const header = out.subarray(member.headerOffset, member.headerOffset + BLOCK);
  writeOctal(header, 124, 12, newData.length);
  fixChecksum(header);
  out.set(newData, member.dataOffset);
  out.set(buf.subarray(oldEnd), member.dataOffset + paddedLen);
  return out;
}
