/**
 * What a check looks at inside a lab's hosts: request/answer exchanges with the VIP (as a client
 * would), the TCP listeners of a namespace, and the connection lock CRIU leaves behind. Each
 * builds its command (pure) and parses the output (pure); the run goes through the Shell seam.
 *
 * @module
 */
import { iptablesListArgv, iptablesLockCleanupArgvs } from "../criu/commands.ts";
import type { Lab } from "../lab/types.ts";
import { inNetns, type Shell } from "../shell.ts";

/** One probe connection: answered (with the server's line) or not, and why not. */
export interface ProbeResult {
  index: number;
  answered: boolean;
  /** The server's answer line. */
  answer?: string;
  /** Why it failed: no connection, no answer, or timed out. */
  failure?: "connect" | "answer" | "timeout";
}

/**
 * A bash script opening `count` connections to `vip:port` at once, each sending one request line
 * and waiting for one answer line; every connection prints `probe <i> <status> <answer>`. Bounded:
 * each connection gives up after `timeoutS` seconds.
 */
export function vipProbeScript(vip: string, port: number, count: number, timeoutS: number): string {
  const one = `exec 3<>/dev/tcp/${vip}/${port} || exit 9; echo probe >&3; ` +
    `IFS= read -r -t ${timeoutS} l <&3 || exit 8; printf "%s" "$l"`;
  return [
    `for i in $(seq 1 ${count}); do`,
    `  ( a=$(timeout ${timeoutS} bash -c '${one}' 2>/dev/null); echo "probe $i $? $a" ) &`,
    "done",
    "wait",
  ].join("\n");
}

/** Parses the output of {@link vipProbeScript}; connections that printed nothing failed. */
export function parseProbeOutput(out: string, count: number): ProbeResult[] {
  const results: ProbeResult[] = Array.from(
    { length: count },
    (_, i) => ({ index: i + 1, answered: false, failure: "timeout" as const }),
  );
  for (const line of out.split("\n")) {
    const m = /^probe (\d+) (\d+) ?(.*)$/.exec(line.trim());
    if (!m) continue;
    const index = Number(m[1]);
    if (index < 1 || index > count) continue;
    const status = Number(m[2]);
    const answer = m[3];
    results[index - 1] = status === 0 && answer ? { index, answered: true, answer } : {
      index,
      answered: false,
      failure: status === 9 ? "connect" : status === 8 ? "answer" : "timeout",
    };
  }
  return results;
}

/**
 * Opens `count` connections from `hostName` to the lab's VIP at once, each asking one question.
 * Takes at most about `timeoutS` seconds.
 */
export async function probeVip(
  shell: Shell,
  lab: Lab,
  hostName: string,
  count: number,
  timeoutS = 3,
): Promise<ProbeResult[]> {
  const host = lab.hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`Lab ${lab.name} has no host ${hostName}`);
  const { vip, servicePort } = lab.loadBalancer;
  const script = vipProbeScript(vip, servicePort, count, timeoutS);
  const r = await shell.run(inNetns(host.netns ?? host.name, ["bash", "-c", script]), {
    check: false,
    timeoutMs: (timeoutS + 5) * 1000,
  });
  return parseProbeOutput(r.stdout, count);
}

/** A one-line summary: `3 of 4 answered (1 without connection)`. */
export function describeProbes(results: readonly ProbeResult[]): string {
  const answered = results.filter((r) => r.answered).length;
  const why = (f: ProbeResult["failure"]) => results.filter((r) => r.failure === f).length;
  const notes = [
    why("connect") && `${why("connect")} refused or unreachable`,
    why("answer") && `${why("answer")} connected but got no answer`,
    why("timeout") && `${why("timeout")} timed out`,
  ].filter(Boolean);
  return `${answered} of ${results.length} connections answered` +
    (notes.length ? ` (${notes.join(", ")})` : "");
}

/** `ss` listing the TCP listeners on `port`, without header. */
export function listenersArgv(port: number): string[] {
  return ["ss", "-H", "-l", "-t", "-n", `sport = :${port}`];
}

/** Local addresses (`0.0.0.0:12345`) of the listeners in `ss -Hltn` output. */
export function parseListeners(out: string): string[] {
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 4)
    .map((f) => f[3]);
}

/** TCP listeners on `port` in a network namespace. */
export async function tcpListeners(shell: Shell, netns: string, port: number): Promise<string[]> {
  const r = await shell.run(inNetns(netns, listenersArgv(port)), { check: false });
  return r.code === 0 ? parseListeners(r.stdout) : [];
}

/** Names of the nftables tables CRIU's connection lock creates (`CRIU-<run id>`) in `nft list tables` output. */
export function parseCriuLockTables(out: string): string[] {
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) =>
    f[0] === "table" && /^CRIU-/.test(f[2] ?? "")
  ).map((f) => `nft table ${f[1]} ${f[2]}`);
}

/** CRIU's lock rules in `iptables -S` output, as the rules' text. */
export function parseCriuIptablesLocks(listing: string, ipv6 = false): string[] {
  return iptablesLockCleanupArgvs(undefined, listing, ipv6).map((argv) =>
    `${argv[0]} ${argv.slice(2).join(" ")}`
  );
}

/**
 * What is left of CRIU's connection locks in a network namespace: its nftables tables and its
 * iptables rules and chain (a container's dump through runc uses iptables).
 */
export async function criuLocks(shell: Shell, netns: string): Promise<string[]> {
  const found: string[] = [];
  const nft = await shell.run(inNetns(netns, ["nft", "list", "tables"]), { check: false });
  if (nft.code === 0) found.push(...parseCriuLockTables(nft.stdout));
  for (const ipv6 of [false, true]) {
    const r = await shell.run(iptablesListArgv(netns, ipv6), { check: false });
    if (r.code === 0) found.push(...parseCriuIptablesLocks(r.stdout, ipv6));
  }
  return found;
}
