import assert from "node:assert/strict";
import { parseProcTcp, tcpSocketsOf } from "../../lib/net/proc_tcp.ts";

const TABLE =
  `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0202000A:3039 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0202000A:3039 0101000A:D7A0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
`;

Deno.test("proc tcp: addresses, ports, states and inodes of /proc/net/tcp", () => {
  assert.deepEqual(parseProcTcp(TABLE), [
    {
      localIp: "10.0.2.2",
      localPort: 12345,
      remoteIp: "0.0.0.0",
      remotePort: 0,
      state: "LISTEN",
      inode: 4242,
    },
    {
      localIp: "10.0.2.2",
      localPort: 12345,
      remoteIp: "10.0.1.1",
      remotePort: 55200,
      state: "ESTABLISHED",
      inode: 4343,
    },
  ]);
});

Deno.test("proc tcp: the sockets this very process holds, and none of a process that is gone", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const mine = await tcpSocketsOf([Deno.pid]);
    const port = (listener.addr as Deno.NetAddr).port;
    assert.ok(
      mine.some((s) => s.localPort === port && s.state === "LISTEN" && s.localIp === "127.0.0.1"),
      JSON.stringify(mine),
    );
    assert.deepEqual(await tcpSocketsOf([]), []);
    assert.deepEqual(await tcpSocketsOf([2 ** 22 + 7]), []);
  } finally {
    listener.close();
  }
});
