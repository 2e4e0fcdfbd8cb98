/**
 * The project's numeric settings from the environment (`P4CF_COMMAND_TIMEOUT_S`,
 * `P4CF_BUSY_POLL_US`, `P4CF_BENCH_SETTLE_S`, …): one reading, one error for a bad value.
 *
 * @module
 */
import { UserError } from "./errors.ts";

/**
 * The non-negative number `value` of the setting `name`, or undefined when it is unset or blank.
 *
 * @throws {UserError} naming the setting, its value and `unit`, with `hint`, for anything else.
 */
export function nonNegativeSetting(
  name: string,
  value: string | undefined,
  unit: string,
  hint: string,
): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UserError(`${name}="${value}" is not a number of ${unit}`, { hint });
  }
  return n;
}
