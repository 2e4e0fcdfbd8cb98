/**
 * What a Redis migration must preserve, read through the VIP from a client host: the server's
 * uptime (a restart would reset it), its connected clients and the lab's counter.
 *
 * @module
 */
import type { Lab } from "../lab/types.ts";
import { inNetns, type Shell } from "../shell.ts";

export interface RedisSnapshot {
  uptimeS: number;
  /** Connected clients, not counting the probe itself. */
  clients: number;
  counter: number;
}

/** Parses `INFO` output (`key:value` lines) into a map. */
export function parseRedisInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) map.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return map;
}

/** Reads uptime, clients and `counter` from the lab's Redis through the VIP. */
export async function redisSnapshot(
  shell: Shell,
  lab: Lab,
  fromHost: string,
): Promise<RedisSnapshot> {
  const host = lab.hosts.find((h) => h.name === fromHost)!;
  const cli = (...args: string[]) =>
    shell.run(
      inNetns(host.netns ?? host.name, [
        "redis-cli",
        "-h",
        lab.loadBalancer.vip,
        "-p",
        String(lab.loadBalancer.servicePort),
        ...args,
      ]),
      { timeoutMs: 5000 },
    );
  const info = parseRedisInfo((await cli("INFO")).stdout);
  const counter = Number.parseInt((await cli("GET", "counter")).stdout.trim(), 10);
  return {
    uptimeS: Number(info.get("uptime_in_seconds") ?? NaN),
    clients: Number(info.get("connected_clients") ?? NaN) - 1,
    counter: Number.isNaN(counter) ? 0 : counter,
  };
}
