/**
 * The units a lab file gives its machines' underlay links in, as `tc` writes them: rates
 * (`1gbit`, `100mbit`) and delays (`0.5ms`, `200us`). Pure parsers, shared by the lab file's
 * checks and the underlay's `tc` commands.
 *
 * @module
 */

const RATE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/;
const RATE_FACTOR: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** Slowest and fastest underlay a lab may ask for (tbf is precise between them). */
export const RATE_MIN_BIT_S = 64e3;
export const RATE_MAX_BIT_S = 100e9;

/** A rate such as `1gbit` in bit/s; undefined when it is not one. */
export function parseRate(text: string): number | undefined {
  const m = RATE.exec(text.trim().toLowerCase());
  return m ? Math.round(Number(m[1]) * RATE_FACTOR[m[2]]) : undefined;
}

const DELAY = /^(\d+(?:\.\d+)?)(us|ms|s)$/;
const DELAY_FACTOR: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3 };

/** Longest one-way delay a lab may ask for. */
export const DELAY_MAX_MS = 10_000;

/** A delay such as `0.5ms` in milliseconds; undefined when it is not one. */
export function parseDelay(text: string): number | undefined {
  const m = DELAY.exec(text.trim().toLowerCase());
  return m ? Number(m[1]) * DELAY_FACTOR[m[2]] : undefined;
}

/** A rate for people: `1 Gbit/s`, `250 Mbit/s`. */
export function formatRate(bitS: number): string {
  for (const [unit, f] of [["Gbit/s", 1e9], ["Mbit/s", 1e6], ["kbit/s", 1e3]] as const) {
    if (bitS >= f) return `${+(bitS / f).toFixed(2)} ${unit}`;
  }
  return `${bitS} bit/s`;
}
