/** HPACK through hpack.js: our request encoder's indexing and reuse, and the decoder's table. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import hpack from "hpack.js";
import {
  DEFAULT_TABLE_SIZE,
  HeaderDecoder,
  HeaderEncoder,
  indexedOnly,
  indexedOnlyKey,
  RequestHeaders,
} from "../../../lib/p4runtime/transport/hpack.ts";

const WRITE = new RequestHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/p4.v1.P4Runtime/Write"],
  [":authority", "127.0.0.1:9559"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ["grpc-timeout", "30000m"],
]);
const READ = new RequestHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/p4.v1.P4Runtime/Read"],
  [":authority", "127.0.0.1:9559"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);

const pairs = (fields: { name: string; value: string }[]) => fields.map((f) => [f.name, f.value]);

/** A peer's encoder (hpack.js, indexing as servers do): fields in, header block out. */
function peerEncoder(): (fields: { name: string; value: string }[]) => Uint8Array {
  const peer = hpack.compressor.create({ table: { maxSize: DEFAULT_TABLE_SIZE } });
  return (fields) => {
    peer.write(fields);
    const parts: Buffer[] = [];
    for (let b = peer.read(); b; b = peer.read()) parts.push(b);
    return new Uint8Array(Buffer.concat(parts));
  };
}

Deno.test("request headers are indexed once, then sent as references reused while the table holds", () => {
  const enc = new HeaderEncoder();
  const dec = new HeaderDecoder(); // The server's side, which sees every block in order.
  const first = enc.encode(WRITE);
  assert.equal(indexedOnly(first), false, "the first block has literals");
  assert.deepEqual(pairs(dec.decode(first)), WRITE.fields);
  const second = enc.encode(WRITE);
  assert.ok(indexedOnly(second), "then only references");
  assert.ok(second.length < 10, `${second.length} bytes`);
  assert.deepEqual(pairs(dec.decode(second)), WRITE.fields);
  assert.equal(enc.encode(WRITE), second, "the same block, not encoded again");

  // Another method adds to the table: the Write block is encoded again, and still decodes.
  assert.deepEqual(pairs(dec.decode(enc.encode(READ))), READ.fields);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(pairs(dec.decode(enc.encode(WRITE))), WRITE.fields);
    assert.deepEqual(pairs(dec.decode(enc.encode(READ))), READ.fields);
  }
});

Deno.test("a peer that shrinks its table gets a size update to 0, then blocks without indexing", () => {
  const enc = new HeaderEncoder();
  const dec = new HeaderDecoder();
  dec.decode(enc.encode(WRITE));
  enc.peerTableSize(DEFAULT_TABLE_SIZE); // Not smaller: nothing changes.
  assert.ok(indexedOnly(enc.encode(WRITE)));
  enc.peerTableSize(0);
  const update = enc.encode(WRITE);
  assert.equal(update[0], 0x20, "dynamic table size update to 0 first");
  assert.deepEqual(update.subarray(1), WRITE.stateless);
  assert.deepEqual(pairs(dec.decode(update)), WRITE.fields);
  assert.equal(enc.encode(WRITE), WRITE.stateless);
  // Starting below the default, nothing is indexed beyond what the peer allows.
  const small = new HeaderEncoder(0);
  const block = small.encode(WRITE);
  assert.deepEqual(pairs(new HeaderDecoder(0).decode(block)), WRITE.fields);
});

Deno.test("the decoder's table holds what the peer's does: it evicts, and takes size updates", () => {
  const encode = peerEncoder();
  const dec = new HeaderDecoder();
  for (let i = 0; i < 100; i++) {
    // About 100 bytes each: the table holds 40 of them, the older ones are evicted.
    const fields = [{ name: "grpc-message", value: `message ${i} ${"x".repeat(60)}` }];
    assert.deepEqual(dec.decode(encode(fields)), fields, `literal ${i}`);
    assert.deepEqual(dec.decode(encode(fields)), fields, `reference ${i}`);
  }
  // Index 62 + 45: an entry 45 insertions old, gone from a 4 KiB table (a table that never
  // evicted would still decode it, growing without bound).
  assert.throws(() => new HeaderDecoder().decode(Uint8Array.of(0xeb)), /HPACK/);
  assert.throws(() => dec.decode(Uint8Array.of(0x80 | (62 + 45))), /HPACK/);
  // A dynamic table size update (to 4096, 001 11111 then 4065 as 0xe1 0x1f) is accepted.
  assert.deepEqual(new HeaderDecoder().decode(Uint8Array.of(0x3f, 0xe1, 0x1f, 0x88)), [
    { name: ":status", value: "200" },
  ]);
});

Deno.test("blocks of references are decoded once while the table stays the same", () => {
  const encode = peerEncoder();
  const dec = new HeaderDecoder();
  const ok = [{ name: "grpc-status", value: "0" }];
  dec.decode(encode(ok));
  const ref = encode(ok);
  assert.ok(indexedOnlyKey(ref) >= 0);
  const a = dec.decode(ref);
  assert.deepEqual(a, ok);
  assert.equal(dec.decode(Uint8Array.from(ref)), a, "the same fields again");
  // A literal shifts the table: the same reference now names the new entry.
  const failed = [{ name: "grpc-status", value: "5" }];
  dec.decode(encode(failed));
  assert.deepEqual(dec.decode(ref), failed);
  assert.equal(indexedOnlyKey(Uint8Array.of(0x80)), -1, "index 0 is not a reference");
  assert.equal(indexedOnlyKey(Uint8Array.of(0xbe, 0x40)), -1, "a literal");
  assert.equal(indexedOnlyKey(Uint8Array.of()), -1);
  assert.ok(indexedOnly(Uint8Array.of(0xff, 0x81, 0x01, 0xbe)), "a two-byte index, then one");
  assert.equal(indexedOnly(Uint8Array.of(0xff, 0x81)), false, "a truncated index");
});
