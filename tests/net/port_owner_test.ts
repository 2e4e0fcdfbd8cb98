import assert from "node:assert/strict";
import { listeningInodes, portInUse, portOwners } from "../../lib/net/port_owner.ts";

const TABLE =
  `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`;

Deno.test("listening sockets are found by port in /proc/net/tcp, connections are not", () => {
  assert.deepEqual(listeningInodes(TABLE, 8080), ["4242"]);
  assert.deepEqual(listeningInodes(TABLE, 8081), ["4444"]);
  assert.deepEqual(listeningInodes(TABLE, 8082), []);
});

Deno.test("the owner of a listening port is found, with its command line", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    assert.equal(portInUse(port), true);
    const owners = portOwners(port);
    assert.deepEqual(owners.map((o) => o.pid), [Deno.pid]);
    assert.match(owners[0].cmdline.join(" "), /deno/);
  } finally {
    listener.close();
  }
  assert.equal(portInUse(port), false);
});
