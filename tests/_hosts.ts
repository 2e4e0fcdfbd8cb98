/** A lab host built in code for tests: `hN` at 10.0.N.10/24 behind switch `sw` port `port`. */
import type { Host } from "../lib/lab/types.ts";

export function testHost(n: number, sw: string, port: number): Host {
  return {
    name: `h${n}`,
    kind: "netns",
    ip: `10.0.${n}.10`,
    prefix: 24,
    mac: `02:00:00:00:0${n}:10`,
    iface: "eth0",
    gateway: `10.0.${n}.1`,
    gatewayMac: `02:00:00:00:0${n}:01`,
    switch: sw,
    switchPort: port,
  };
}
