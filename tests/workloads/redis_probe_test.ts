import assert from "node:assert/strict";
import { parseRedisInfo } from "../../lib/workloads/redis_probe.ts";

Deno.test("parseRedisInfo reads key:value lines and skips section headers", () => {
  const info = parseRedisInfo(
    "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:27\r\n\r\n# Clients\r\nconnected_clients:3\r\n",
  );
  assert.equal(info.get("uptime_in_seconds"), "27");
  assert.equal(info.get("connected_clients"), "3");
  assert.equal(info.has("# Server"), false);
});
