/**
 * Type-checking the student's file before anything runs: a typo becomes a compiler error with its
 * file, line and column, instead of a TypeError in the middle of a lab.
 *
 * @module
 */
import { repoRoot } from "../lab/paths.ts";
import { displayPath } from "./catalog.ts";

/** One compiler error. */
export interface TypeDiagnostic {
  /** `TS2551` */
  code: string;
  message: string;
  /** Path as shown to the student (relative to the repository when inside it). */
  file: string;
  line: number;
  column: number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Parses `deno check` output: each `TSxxxx [ERROR]: message` block and the first `at file:line:col`
 * under it (the place of the error; later ones point at declarations it mentions).
 */
export function parseCheckOutput(out: string, root: string = repoRoot()): TypeDiagnostic[] {
  const diagnostics: TypeDiagnostic[] = [];
  let current: { code: string; message: string } | undefined;
  for (const raw of out.replace(ANSI, "").split("\n")) {
    const line = raw.trimEnd();
    const head = /^(TS\d+) \[ERROR\]: (.*)$/.exec(line.trim());
    if (head) {
      current = { code: head[1], message: head[2] };
      continue;
    }
    const at = /^\s*at (file:\/\/\S+):(\d+):(\d+)$/.exec(line);
    if (at && current) {
      const path = decodeURIComponent(new URL(at[1]).pathname);
      diagnostics.push({
        ...current,
        file: displayPath(path, root),
        line: Number(at[2]),
        column: Number(at[3]),
      });
      current = undefined;
    }
  }
  return diagnostics;
}

/** `file:line:col TSxxxx message`, one per line. */
export function formatDiagnostics(diagnostics: readonly TypeDiagnostic[], max = 8): string {
  const lines = diagnostics.slice(0, max).map((d) =>
    `${d.file}:${d.line}:${d.column} ${d.code} ${d.message}`
  );
  if (diagnostics.length > max) lines.push(`... and ${diagnostics.length - max} more`);
  return lines.join("\n");
}

/** What {@link typeCheck} found. */
export interface TypeCheckResult {
  ok: boolean;
  diagnostics: TypeDiagnostic[];
  /** Output that is not a diagnostic, when the check failed without any (e.g. a syntax error). */
  other?: string;
}

/**
 * Runs `deno check` on `file` with the repository's imports and compiler options. (Not with its
 * deno.json as is: that excludes `.run/`, where copies of students' files are checked.) Deno's
 * notes that are not about the file (npm packages' ignored build scripts) are dropped.
 */
export async function typeCheck(file: string, root: string = repoRoot()): Promise<TypeCheckResult> {
  const project = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  const dir = await Deno.makeTempDir({ prefix: "p4cf-check-" });
  const config = `${dir}/deno.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({ imports: project.imports, compilerOptions: project.compilerOptions }),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--no-lock", "--config", config, file],
    cwd: root,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(dir, { recursive: true }));
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code === 0) return { ok: true, diagnostics: [] };
  const diagnostics = parseCheckOutput(text, root);
  if (diagnostics.length) return { ok: false, diagnostics };
  const other = text.split("\n")
    .filter((l) => l.trim() && !/^Stack backtrace|^\s+\d+: <unknown>|build scripts|^[│╭╰]/.test(l))
    .map((l) => l.replace(/file:\/\/(\S+)/g, (_, p) => displayPath(p, root)))
    .slice(0, 8).join("\n");
  return { ok: false, diagnostics, other };
}
