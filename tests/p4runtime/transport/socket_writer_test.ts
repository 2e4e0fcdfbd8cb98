import assert from "node:assert/strict";
import { SocketWriter } from "../../../lib/p4runtime/transport/socket_writer.ts";
import { concatBytes } from "../../../lib/bytes.ts";

/** A socket that records each write and takes at most `max` bytes of it. */
function fakeSocket(max = Infinity, fail = false) {
  const writes: number[][] = [];
  return {
    writes,
    write(bytes: Uint8Array): Promise<number> {
      if (fail) return Promise.reject(new Error("broken pipe"));
      const n = Math.min(max, bytes.length);
      writes.push([...bytes.subarray(0, n)]);
      return Promise.resolve(n);
    },
  };
}

Deno.test("what is queued in one turn leaves in one write, partial writes go on", async () => {
  const socket = fakeSocket();
  const w = new SocketWriter(socket, () => assert.fail("no error expected"));
  w.queue(Uint8Array.of(1, 2));
  w.queue(Uint8Array.of(3), Uint8Array.of(4));
  assert.equal(socket.writes.length, 0, "not before the end of the turn");
  await w.flush();
  assert.deepEqual(socket.writes, [[1, 2, 3, 4]]);
  assert.equal(w.busy, false);

  const slow = fakeSocket(3);
  const s = new SocketWriter(slow, () => assert.fail("no error expected"));
  s.queue(Uint8Array.of(1, 2, 3, 4, 5, 6, 7));
  const done = s.flush();
  assert.deepEqual(slow.writes, [[1, 2, 3]], "flush starts writing at once");
  await done;
  assert.deepEqual(slow.writes, [[1, 2, 3], [4, 5, 6], [7]]);
  assert.deepEqual(
    concatBytes([Uint8Array.of(1), Uint8Array.of(), Uint8Array.of(2, 3)]),
    Uint8Array.of(1, 2, 3),
  );
});

Deno.test("a failed write is reported once and later writes are dropped", async () => {
  const errors: string[] = [];
  const w = new SocketWriter(fakeSocket(Infinity, true), (e) => errors.push(e.message));
  w.queue(Uint8Array.of(1));
  await w.flush();
  w.queue(Uint8Array.of(2));
  await w.flush();
  assert.deepEqual(errors, ["broken pipe"]);
  assert.equal(w.busy, false);
});

Deno.test("send writes at once, behind what is queued, and in order while a write is going", async () => {
  const socket = fakeSocket();
  const w = new SocketWriter(socket, () => assert.fail("no error expected"));
  w.queue(Uint8Array.of(1));
  w.send(Uint8Array.of(2, 3));
  assert.deepEqual(socket.writes, [[1, 2, 3]], "in the same turn, after the queued bytes");
  w.send(Uint8Array.of(4)); // The first write has not finished: this one waits for it.
  w.send(Uint8Array.of(5));
  await w.flush();
  assert.deepEqual(socket.writes, [[1, 2, 3], [4, 5]]);
  assert.equal(w.busy, false);
});
