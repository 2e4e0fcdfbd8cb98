/**
 * Finds and parses a lab in one call: what the CLI does with its `<lab>` argument.
 *
 * @module
 */
import { findLab } from "./find.ts";
import { parseLabFile, type ParseOptions } from "./parse.ts";
import type { Lab } from "./types.ts";

export interface LoadOptions extends ParseOptions {
  /** Directory of lab definitions (default `lab/` in the repository). */
  labDir?: string;
}

/**
 * Loads a lab by name (`process-migration`) or path, validated and fully resolved.
 *
 * @throws {UserError} when there is no such lab; {@link LabFileError} when the file has problems.
 */
export async function loadLab(ref: string, options: LoadOptions = {}): Promise<Lab> {
  return await parseLabFile(findLab(ref, options.labDir), options);
}
