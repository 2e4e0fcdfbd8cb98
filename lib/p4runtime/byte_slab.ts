/**
 * Small byte arrays carved out of shared 4 KiB slabs: each is its own zeroed range, handed out
 * once, as a view. In Deno a fresh `new Uint8Array(3)` costs 200-400 ns and its own ArrayBuffer
 * for the garbage collector to sweep; a view on a slab costs 30-40 ns (measured, micro-benchmark
 * on the bench machine). Building one table entry makes four such values and encoding it one
 * more, so at 10,000 entries per batched write this was half of the client's time.
 *
 * A view keeps its whole slab alive, so only small arrays come from here (at most 256 bytes:
 * field values, encoded updates), and `.buffer` of a result is the slab, not a buffer of its own:
 * use `byteOffset`/`byteLength` (as every codec here does).
 *
 * @module
 */

const SLAB = 4096;
/** Larger requests get an array of their own. */
export const MAX_SLAB_BYTES = 256;

let slab = new ArrayBuffer(SLAB);
let used = 0;

/** A zeroed byte array of `length` bytes (a view on a shared slab when small). */
export function smallBytes(length: number): Uint8Array<ArrayBuffer> {
  if (length > MAX_SLAB_BYTES) return new Uint8Array(length);
  if (used + length > SLAB) {
    slab = new ArrayBuffer(SLAB);
    used = 0;
  }
  const out = new Uint8Array(slab, used, length);
  used += length;
  return out;
}
