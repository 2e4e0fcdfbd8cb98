import assert from "node:assert/strict";
import { parseIpv4 } from "../../lib/net/addr.ts";
import {
  defaultGateway,
  deriveHostMac,
  deriveLabId,
  derivePortMac,
  isLabIfaceName,
  portIfaceName,
} from "../../lib/lab/naming.ts";

Deno.test("lab ids are the initials of multi-word names, else the name cut to 5", () => {
  assert.equal(deriveLabId("process-migration"), "pm");
  assert.equal(deriveLabId("process-migration-4sw"), "pm4");
  assert.equal(deriveLabId("host-containers"), "hc");
  assert.equal(deriveLabId("redis"), "redis");
  assert.equal(deriveLabId("kubernetes"), "kuber");
});

Deno.test("derived MACs and gateways", () => {
  assert.equal(deriveHostMac(parseIpv4("10.0.2.2")!), "02:00:0a:00:02:02");
  assert.equal(derivePortMac(0, 1), "02:01:00:00:00:01");
  assert.equal(derivePortMac(258, 510), "02:01:01:02:01:fe");
  assert.equal(defaultGateway(parseIpv4("10.0.1.1")!, 24), "10.0.1.254");
  assert.equal(defaultGateway(parseIpv4("172.16.3.4")!, 16), "172.16.255.254");
  assert.equal(defaultGateway(parseIpv4("10.0.0.1")!, 30), "10.0.0.2");
});

Deno.test("switch port interfaces carry the lab prefix and are recognised by it", () => {
  assert.equal(portIfaceName("pm", "s1", 3), "pm-s1-eth3");
  assert.ok(isLabIfaceName("pm", "pm-s1-eth3"));
  assert.ok(!isLabIfaceName("pm", "pm4-s1-eth3"));
  assert.ok(!isLabIfaceName("pm", "pm-h1"));
  assert.ok(!isLabIfaceName("pm", "eth0"));
});
