import assert from "node:assert/strict";
import { readImage } from "../../lib/criu/images.ts";
import {
  AF_INET,
  formatImageAddress,
  inetSockets,
  ipv4ToWord,
  tcpStateName,
  V4_MAPPED_WORD,
  wordToIpv4,
} from "../../lib/criu/sockets.ts";
import { formatIpv4, parseIpv4 } from "../../lib/net/addr.ts";
import { DUMP1, DUMP1_CLIENT_IP, DUMP1_SOURCE_IP } from "./_fixtures.ts";

Deno.test("address words are network-order bytes read as a little-endian u32", () => {
  assert.equal(ipv4ToWord(parseIpv4("10.0.0.1")!), 0x0100000an);
  assert.equal(formatIpv4(wordToIpv4(0x0202630an)), "10.99.2.2");
  assert.equal(formatImageAddress([0x0202630an]), "10.99.2.2");
  assert.equal(formatImageAddress([0n, 0n, V4_MAPPED_WORD, 0x0100000an]), "::ffff:10.0.0.1");
  assert.equal(formatImageAddress([0n, 0n, 0n, ipv4ToWord(1)]), "0:0:0:0:0:0:0:1");
  assert.equal(tcpStateName(10), "LISTEN");
  assert.equal(tcpStateName(1), "ESTABLISHED");
});

Deno.test("inetSockets finds the listening socket and both connections of a real dump", async () => {
  const sockets = inetSockets(await readImage(`${DUMP1}/files.img`));
  assert.equal(sockets.length, 3);
  const [listen, ...conns] = sockets;
  assert.equal(listen.family, AF_INET);
  assert.equal(tcpStateName(listen.state), "LISTEN");
  assert.equal(listen.srcAddr, DUMP1_SOURCE_IP);
  assert.equal(listen.srcPort, 7000);
  assert.equal(listen.dstAddr, "0.0.0.0");
  for (const c of conns) {
    assert.equal(tcpStateName(c.state), "ESTABLISHED");
    assert.equal(c.srcAddr, DUMP1_SOURCE_IP);
    assert.equal(c.dstAddr, DUMP1_CLIENT_IP);
    assert.equal(c.proto, 6);
    // CRIU names each connection's TCP state file after the socket's inode, in hex.
    assert.ok(Deno.statSync(`${DUMP1}/tcp-stream-${c.ino.toString(16)}.img`).isFile);
  }
});
