/**
 * Resolves the `<lab>` argument of the CLI: a lab name in `lab/` (`process-migration`) or a path
 * to a lab file (`./my-lab.yaml`).
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { labDefinitionsDir } from "./paths.ts";
import { suggestionHint } from "./suggest.ts";

/** Names of the labs defined in `dir` (the `*.yaml` files), sorted. */
export function listLabs(dir: string = labDefinitionsDir()): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && /\.ya?ml$/.test(entry.name)) {
        names.push(entry.name.replace(/\.ya?ml$/, ""));
      }
    }
  } catch {
    return [];
  }
  return names.sort();
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`.replace(/\/\.\//g, "/");
}

/**
 * Returns the absolute path of a lab file. `ref` is a path when it contains a `/` or ends in
 * `.yaml`/`.yml`, otherwise a lab name looked up in `dir`.
 *
 * @throws {UserError} naming the available labs when there is no such lab.
 */
export function findLab(ref: string, dir: string = labDefinitionsDir()): string {
  const labs = listLabs(dir);
  const available = labs.length
    ? `available labs: ${labs.join(", ")}`
    : `there are no labs in ${dir}`;
  if (ref.includes("/") || /\.ya?ml$/.test(ref)) {
    if (isFile(ref)) return absolute(ref);
    throw new UserError(`Lab file "${ref}" does not exist`, {
      hint: `give a lab name or an existing file; ${available}`,
    });
  }
  for (const ext of ["yaml", "yml"]) {
    const path = `${dir}/${ref}.${ext}`;
    if (isFile(path)) return path;
  }
  const near = suggestionHint(ref, labs, "available labs");
  throw new UserError(`There is no lab named "${ref}"`, {
    hint: near.startsWith("did you mean") ? `${near} (${available})` : available,
  });
}
