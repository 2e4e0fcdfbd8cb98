/**
 * FNV-1a (32-bit) of a string's UTF-8 bytes: small and stable across runs and machines, for the
 * names, ports and addresses derived from a lab id, a run directory or a student.
 *
 * @module
 */

/** The hash as an unsigned 32-bit number. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(text)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}
