/**
 * The Debian mirror this machine's apt uses, read from its sources (one-line `.list` files and
 * deb822 `.sources` files), so a VM built here installs from the same place and the repository
 * names no mirror.
 *
 * ```ts
 * const mirror = debianMirror(readAptSources());
 * // { archive: "http://deb.example/debian", security: "http://deb.example/debian-security" }
 * ```
 *
 * @module
 */

/** One apt source: its URIs and suites (components are not needed here). */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
}

/** The archive serving `<release>` and `<release>-updates`, and the one serving security updates. */
export interface DebianMirror {
  archive: string;
  /** Undefined when the sources name no security archive. */
  security?: string;
}

/** Parses one-line sources (`deb [opts] URI suite components…`). Comments and deb-src are kept out. */
export function parseListFile(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    // Options in brackets may hold spaces: `deb [arch=amd64 signed-by=/k.gpg] http://x bookworm main`.
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ types: [m[1]], uris: [m[2]], suites: [m[3]] });
  }
  return out;
}

/** Parses deb822 sources (stanzas of `Field: value` lines, blank lines between them). */
export function parseSourcesFile(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = "";
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += ` ${raw.trim()}`; // a continuation line
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2].trim();
      }
    }
    if (!fields.uris || !fields.suites) continue;
    if ((fields.enabled ?? "yes").toLowerCase() === "no") continue;
    const words = (s: string | undefined) => (s ?? "").split(/\s+/).filter(Boolean);
    out.push({
      types: words(fields.types),
      uris: words(fields.uris),
      suites: words(fields.suites),
    });
  }
  return out;
}

/**
 * The mirror serving Debian `release` (e.g. "bookworm") among `sources`, or undefined when none
 * does. Only binary (`deb`) sources count; the security archive is the one serving
 * `<release>-security`.
 */
export function debianMirror(
  sources: readonly AptSource[],
  release = "bookworm",
): DebianMirror | undefined {
  const serving = (suite: string) =>
    sources.find((s) => s.types.includes("deb") && s.suites.includes(suite))?.uris[0];
  const archive = serving(release);
  if (!archive) return undefined;
  const security = serving(`${release}-security`);
  const trim = (u: string) => u.replace(/\/+$/, "");
  return { archive: trim(archive), ...(security ? { security: trim(security) } : {}) };
}

/** Reads /etc/apt/sources.list and every file in /etc/apt/sources.list.d (both formats). */
export function readAptSources(root = "/etc/apt"): AptSource[] {
  const out: AptSource[] = [];
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return undefined;
    }
  };
  const main = read(`${root}/sources.list`);
  if (main) out.push(...parseListFile(main));
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(`${root}/sources.list.d`)].map((e) => e.name).sort();
  } catch {
    // No directory: only sources.list.
  }
  for (const name of names) {
    const text = read(`${root}/sources.list.d/${name}`);
    if (text === undefined) continue;
    if (name.endsWith(".list")) out.push(...parseListFile(text));
    else if (name.endsWith(".sources")) out.push(...parseSourcesFile(text));
  }
  return out;
}

/**
 * The settings of `apt-config dump` a VM needs to use this machine's mirror the same way: proxies,
 * and whether release files may be old (a snapshot mirror's are: without
 * `Acquire::Check-Valid-Until "false"` apt refuses them). Lines as apt.conf takes them.
 */
export function aptAcquireSettings(dump: string): string[] {
  const wanted = /^Acquire::(Check-Valid-Until|Check-Date|Retries|(https?|ftp)::Proxy(::\S+)?) "/;
  return dump.split("\n").map((l) => l.trim()).filter((l) => wanted.test(l));
}
