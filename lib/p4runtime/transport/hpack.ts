/**
 * HPACK (RFC 7541) through npm:hpack.js, behind two small functions:
 *
 * - {@link encodeHeaderBlock}: a header block that never touches the dynamic table (every field
 *   indexed from the static table or a literal "without indexing"), so the block does not depend
 *   on the connection's state and can be built once and sent on any connection, many times;
 * - {@link HeaderEncoder}: a connection's encoder of request headers, which indexes them into
 *   the dynamic table, so that from the second call of a method on, its header block is a few
 *   one-byte references (built once, then sent as it is while the table stays the same);
 * - {@link HeaderDecoder}: the connection's decoder, which must see every header block the peer
 *   sends, in order (the peer's encoder indexes fields into the dynamic table we mirror).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import hpack from "hpack.js";
import { H2Error, H2ProtocolError } from "./frames.ts";

/** A decoded header field. */
export interface HeaderField {
  name: string;
  value: string;
}

interface CompressorLike {
  write(headers: unknown[]): void;
  read(): Buffer | null;
}

interface DecompressorLike {
  /** The decompressor's input (hpack.js 2.1.6's own field, see decode). */
  _decoder: { push(block: Buffer): void };
  execute(): void;
  on(event: "error", listener: (err: Error) => void): void;
  push(field: HeaderField): boolean;
}

/** The dynamic table size every HTTP/2 peer starts with (SETTINGS_HEADER_TABLE_SIZE). */
export const DEFAULT_TABLE_SIZE = 4096;

function compress(compressor: CompressorLike, headers: unknown[]): Uint8Array {
  compressor.write(headers);
  const parts: Buffer[] = [];
  for (let b = compressor.read(); b; b = compressor.read()) parts.push(b);
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A header block for `fields` (names lower-case) that leaves the dynamic table alone, so it is
 * valid on any connection.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<[string, string]>): Uint8Array {
  const compressor = hpack.compressor.create({
    table: { maxSize: DEFAULT_TABLE_SIZE },
  }) as CompressorLike;
  return compress(
    compressor,
    fields.map(([name, value]) => ({ name, value, incremental: false })),
  );
}

/** The request headers of a method (and deadline), built once and sent on any connection. */
export class RequestHeaders {
  /** The block without the dynamic table, for connections that cannot index. */
  readonly stateless: Uint8Array;
  constructor(readonly fields: ReadonlyArray<[string, string]>) {
    this.stateless = encodeHeaderBlock(fields);
  }
}

/** True when every field of `block` is an indexed one (RFC 7541 §6.1): it changes no table. */
export function indexedOnly(block: Uint8Array): boolean {
  let i = 0;
  while (i < block.length) {
    const b = block[i++];
    if (b <= 0x80) return false; // A literal, a table size update, or index 0 (an error).
    if ((b & 0x7f) === 0x7f) {
      while (i < block.length && block[i] & 0x80) i++;
      i++;
    }
  }
  return i === block.length;
}

/**
 * One connection's encoder of request header blocks. Fields are indexed into the dynamic table
 * (through hpack.js), so a method's block is literals once and then only references: for a
 * MODIFY, 8 bytes instead of about 100, which BMv2's gRPC server answered 10-15 µs sooner
 * (measured: its HPACK parser no longer decodes and copies a path, authority, user agent and
 * timeout per call). A block of references changes no table, so it is kept and sent again
 * as long as nothing was added to the table since.
 *
 * Blocks must reach the peer in the order they were encoded: encode a stream's block when
 * its HEADERS frame is queued.
 */
export class HeaderEncoder {
  readonly #compressor: CompressorLike;
  readonly #tableSize: number;
  /** Bumped whenever a block may have changed the table. */
  #generation = 0;
  readonly #references = new Map<RequestHeaders, { generation: number; block: Uint8Array }>();
  /** The peer shrank its table below ours: no more indexing (after telling it so once). */
  #stateless = false;
  #sizeUpdatePending = false;

  /** `peerTableSize`: the peer's SETTINGS_HEADER_TABLE_SIZE when the connection starts. */
  constructor(peerTableSize = DEFAULT_TABLE_SIZE) {
    this.#tableSize = Math.min(DEFAULT_TABLE_SIZE, peerTableSize);
    this.#compressor = hpack.compressor.create({
      table: { maxSize: this.#tableSize },
    }) as CompressorLike;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed. Below the size we use, our next block
   * starts with a table size update to 0 (RFC 7541 §4.2) and nothing is indexed afterwards.
   */
  peerTableSize(size: number): void {
    if (size >= this.#tableSize || this.#stateless) return;
    this.#stateless = true;
    this.#sizeUpdatePending = true;
  }

  /** The block to send now for `headers`. */
  encode(headers: RequestHeaders): Uint8Array {
    if (this.#stateless) {
      if (!this.#sizeUpdatePending) return headers.stateless;
      this.#sizeUpdatePending = false;
      const out = new Uint8Array(1 + headers.stateless.length);
      out[0] = 0x20; // 001 00000: dynamic table size update to 0.
      out.set(headers.stateless, 1);
      return out;
    }
    const known = this.#references.get(headers);
    if (known && known.generation === this.#generation) return known.block;
    const block = compress(
      this.#compressor,
      headers.fields.map(([name, value]) => ({ name, value })),
    );
    if (indexedOnly(block)) this.#references.set(headers, { generation: this.#generation, block });
    else this.#generation++;
    return block;
  }
}

/** The decoder of one connection's received header blocks (stateful: see the module doc). */
export class HeaderDecoder {
  readonly #decompressor: DecompressorLike;
  #fields: HeaderField[] = [];
  #error?: Error;
  /**
   * Fields of short blocks made only of indexed fields (RFC 7541 §6.1), by their bytes. Such a
   * block leaves the dynamic table as it is, so it means the same until a block that is not
   * such changes the table (which clears this). After its first calls, every response of a
   * gRPC server is such a block twice (BMv2: 88 c0 bf, then be): decoding them through hpack.js
   * cost more than the rest of the response's handling (measured).
   */
  readonly #indexedOnly = new Map<number, HeaderField[]>();

  /** `tableSize`: our SETTINGS_HEADER_TABLE_SIZE (4096 unless we advertised otherwise). */
  constructor(tableSize = DEFAULT_TABLE_SIZE) {
    // hpack.js names the option maxSize: given as `size`, the table never evicted (growing
    // with every field the peer indexed) and a table size update from the peer failed.
    this.#decompressor = hpack.decompressor.create({ table: { maxSize: tableSize } });
    // hpack.js hands each decoded field to the stream's push(); collect them directly instead of
    // going through the readable side's buffering.
    this.#decompressor.push = (field: HeaderField) => {
      this.#fields.push({ name: field.name, value: field.value });
      return true;
    };
    this.#decompressor.on("error", (err) => this.#error = err);
  }

  /**
   * The fields of one complete header block (shared between identical blocks: read them, do
   * not change them). Throws {@link H2ProtocolError} with
   * COMPRESSION_ERROR for a block that does not decode (the connection is then unusable).
   */
  decode(block: Uint8Array): HeaderField[] {
    const key = indexedOnlyKey(block);
    if (key >= 0) {
      const known = this.#indexedOnly.get(key);
      if (known) return known;
    } else this.#indexedOnly.clear();
    this.#fields = [];
    try {
      // Straight to the decoder that the stream's write() would hand the block to: the
      // readable-stream machinery around it cost 1.6 KB of garbage and a nextTick per block
      // (measured), and the version is pinned.
      this.#decompressor._decoder.push(
        Buffer.from(block.buffer, block.byteOffset, block.byteLength),
      );
      this.#decompressor.execute();
    } catch (err) {
      this.#error = err instanceof Error ? err : new Error(String(err));
    }
    if (this.#error) {
      throw new H2ProtocolError(
        `header block does not decode (HPACK): ${this.#error.message}`,
        H2Error.COMPRESSION_ERROR,
      );
    }
    if (key >= 0) {
      if (this.#indexedOnly.size >= 64) this.#indexedOnly.clear();
      this.#indexedOnly.set(key, this.#fields);
    }
    return this.#fields;
  }
}

/**
 * A number naming a block of at most 6 one-byte indexed fields (index 1..126), else -1. Such
 * a block never changes the dynamic table.
 */
export function indexedOnlyKey(block: Uint8Array): number {
  const n = block.length;
  if (n === 0 || n > 6) return -1;
  let key = n;
  for (let i = 0; i < n; i++) {
    const b = block[i];
    // 1xxxxxxx is an indexed field; 0x80 (index 0) is an error and 0xff needs more bytes.
    if (b <= 0x80 || b === 0xff) return -1;
    key = key * 256 + b;
  }
  return key;
}
