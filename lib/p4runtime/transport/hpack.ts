/**
 * HPACK (RFC 7541) through npm:hpack.js, behind two small functions:
 *
 * - {@link encodeHeaderBlock}: a header block that never touches the dynamic table (every field
 *   indexed from the static table or a literal "without indexing"), so the block does not depend
 *   on the connection's state and can be built once and sent on any connection, many times;
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

/**
 * A header block for `fields` (names lower-case) that leaves the dynamic table alone, so it is
 * valid on any connection.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<[string, string]>): Uint8Array {
  const compressor = hpack.compressor.create({ table: { size: 4096 } }) as CompressorLike;
  compressor.write(fields.map(([name, value]) => ({ name, value, incremental: false })));
  const parts: Buffer[] = [];
  for (let b = compressor.read(); b; b = compressor.read()) parts.push(b);
  return new Uint8Array(Buffer.concat(parts));
}

/** The decoder of one connection's received header blocks (stateful: see the module doc). */
export class HeaderDecoder {
  readonly #decompressor: DecompressorLike;
  #fields: HeaderField[] = [];
  #error?: Error;

  /** `tableSize`: our SETTINGS_HEADER_TABLE_SIZE (4096 unless we advertised otherwise). */
  constructor(tableSize = 4096) {
    this.#decompressor = hpack.decompressor.create({ table: { size: tableSize } });
    // hpack.js hands each decoded field to the stream's push(); collect them directly instead of
    // going through the readable side's buffering.
    this.#decompressor.push = (field: HeaderField) => {
      this.#fields.push({ name: field.name, value: field.value });
      return true;
    };
    this.#decompressor.on("error", (err) => this.#error = err);
  }

  /**
   * The fields of one complete header block. Throws {@link H2ProtocolError} with
   * COMPRESSION_ERROR for a block that does not decode (the connection is then unusable).
   */
  decode(block: Uint8Array): HeaderField[] {
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
    return this.#fields;
  }
}
