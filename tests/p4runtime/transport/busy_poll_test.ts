/**
 * Busy-polling (busy_poll.ts): finding our socket in /proc's tables, the budget's settings, the
 * socket counters that keep a poll from overtaking a read Deno already made, and calls answered
 * while polling by a server on another thread, including a protocol error met while polling.
 */
import assert from "node:assert/strict";
import {
  BUSY_POLL_ENV,
  busyPollBudget,
  DEFAULT_BUSY_POLL_US,
  socketInode,
  SocketPoller,
} from "../../../lib/p4runtime/transport/busy_poll.ts";
import { H2Transport } from "../../../lib/p4runtime/transport/grpc.ts";
import { RpcError } from "../../../lib/p4runtime/transport/status.ts";
import { Code } from "../../../lib/p4runtime/messages.ts";

const PATH = "/p4.v1.P4Runtime/Capabilities";

Deno.test("socketInode picks our end of a loopback connection, not the peer's", () => {
  const table = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1",
    "   1: 0100007F:C383 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1",
    "   2: 0100007F:9C40 0100007F:C383 01 00000000:00000000 00:00000000 00000000     0        0 333 1",
  ].join("\n");
  // Local 40000 (0x9C40) to remote 50051 (0xC383), and the swapped pair.
  assert.equal(socketInode(table, 40000, 50051), "333");
  assert.equal(socketInode(table, 50051, 40000), "222");
  assert.equal(socketInode(table, 40001, 50051), undefined);
  const v6 = "   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:C383 " +
    "01 00000000:00000000 00:00000000 00000000     0        0 444 1";
  assert.equal(socketInode(v6, 40000, 50051), "444");
});

Deno.test("the budget: the option, else P4CF_BUSY_POLL_US, else the default; bad values named", () => {
  const saved = Deno.env.get(BUSY_POLL_ENV);
  try {
    Deno.env.delete(BUSY_POLL_ENV);
    assert.equal(busyPollBudget(), DEFAULT_BUSY_POLL_US);
    assert.equal(busyPollBudget(0), 0);
    Deno.env.set(BUSY_POLL_ENV, "50");
    assert.equal(busyPollBudget(), 50);
    assert.equal(busyPollBudget(700), 700);
    Deno.env.set(BUSY_POLL_ENV, "soon");
    assert.throws(() => busyPollBudget(), /P4CF_BUSY_POLL_US="soon" is not a number/);
  } finally {
    if (saved === undefined) Deno.env.delete(BUSY_POLL_ENV);
    else Deno.env.set(BUSY_POLL_ENV, saved);
  }
});

/** Busy-polling needs Linux and FFI; the reason when this run has neither. */
function noBusyPoll(): string | undefined {
  if (Deno.build.os !== "linux") return "busy-polling is Linux only";
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return "busy-polling needs --allow-ffi";
  }
  return undefined;
}

const skip = noBusyPoll();
if (skip) console.log(`SKIP busy-poll socket tests: ${skip}`);

Deno.test({
  name: "the poller reads our socket, and its count of consumed bytes sees Deno's reads too",
  ignore: !!skip,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    const server = await listener.accept();
    try {
      const poller = SocketPoller.open(client);
      assert.ok(poller, "no poller for a plain loopback connection");
      assert.equal(poller.consumed(), 0);
      const buf = new Uint8Array(64);
      assert.equal(poller.read(buf), -1, "nothing sent yet");
      await server.write(Uint8Array.of(1, 2, 3, 4, 5, 6, 7));
      let n = -1;
      for (let i = 0; i < 1000 && n < 0; i++) {
        n = poller.read(buf);
        if (n < 0) await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(n, 7);
      assert.deepEqual(buf.subarray(0, 7), Uint8Array.of(1, 2, 3, 4, 5, 6, 7));
      assert.equal(poller.consumed(), 7);
      // Bytes queued but not taken do not count; bytes Deno's own read took do.
      await server.write(Uint8Array.of(8, 9, 10));
      await new Promise((r) => setTimeout(r, 50)); // loopback delivers at once; ample
      assert.equal(poller.consumed(), 7, "queued bytes counted as consumed");
      assert.equal(await client.read(buf), 3);
      assert.equal(poller.consumed(), 10);
      server.close();
      for (let i = 0; i < 1000 && (n = poller.read(buf)) < 0; i++) {
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(n, 0, "the end of the stream");
    } finally {
      client.close();
      try {
        server.close();
      } catch { /* closed above */ }
      listener.close();
    }
  },
});

/** A gRPC server on a Worker thread; its address. */
async function workerServer(): Promise<{ address: string; stop: () => void }> {
  const worker = new Worker(new URL("./_worker_h2_server.ts", import.meta.url), {
    type: "module",
  });
  const address = await new Promise<string>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data as string);
    worker.onerror = (e) => reject(new Error(e.message));
  });
  return { address, stop: () => worker.terminate() };
}

Deno.test({
  name: "calls answered while busy-polling, with the server on another thread; off with 0",
  ignore: !!skip,
  fn: async () => {
    const server = await workerServer();
    try {
      const polling = new H2Transport(server.address, { maxMessage: 1 << 20, busyPollUs: 20_000 });
      const plain = new H2Transport(server.address, { maxMessage: 1 << 20, busyPollUs: 0 });
      try {
        for (let i = 0; i < 30; i++) {
          const body = Uint8Array.of(i, 1, 2, 3);
          assert.deepEqual(await polling.unary(PATH, body, 5000), Uint8Array.of(3, 2, 1, i));
          assert.deepEqual(await plain.unary(PATH, body, 5000), Uint8Array.of(3, 2, 1, i));
        }
        const counts = polling.busyPollCounts();
        // With a 20 ms budget, (nearly) every answer is taken while polling.
        assert.ok(counts.answered >= 25, `answered while polling: ${JSON.stringify(counts)}`);
        assert.equal(counts.answered + counts.timedOut, 30, JSON.stringify(counts));
        // Of calls side by side only the first polls (a poll would hold up the others).
        const side = await Promise.all(
          [1, 2, 3].map((i) => polling.unary(PATH, Uint8Array.of(i, 0), 5000)),
        );
        assert.deepEqual(side, [Uint8Array.of(0, 1), Uint8Array.of(0, 2), Uint8Array.of(0, 3)]);
        const after = polling.busyPollCounts();
        assert.equal(after.answered + after.timedOut, 31, JSON.stringify(after));
        assert.deepEqual(plain.busyPollCounts(), { answered: 0, timedOut: 0 });
      } finally {
        polling.close();
        plain.close();
      }
    } finally {
      server.stop();
    }
  },
});

Deno.test({
  name: "a protocol error met while busy-polling fails the call with its name, no hang",
  ignore: !!skip,
  fn: async () => {
    const server = await workerServer();
    const t = new H2Transport(server.address, { maxMessage: 1 << 20, busyPollUs: 20_000 });
    try {
      assert.deepEqual(await t.unary(PATH, Uint8Array.of(1), 5000), Uint8Array.of(1));
      const started = Date.now();
      await assert.rejects(t.unary(PATH, Uint8Array.of(0xff), 5000), (e: unknown) => {
        assert.ok(e instanceof RpcError, String(e));
        assert.equal(e.code, Code.INTERNAL, e.message);
        assert.match(e.details, /HTTP\/2 protocol error from .*: frame type 0 on stream 0/);
        // Met by the poll, not by the read loop afterwards.
        assert.match(String((e.cause as Error).stack), /pollUntil/);
        return true;
      });
      assert.ok(Date.now() - started < 3000, "took too long");
      // The next call connects again and is answered.
      assert.deepEqual(await t.unary(PATH, Uint8Array.of(2, 3), 5000), Uint8Array.of(3, 2));
    } finally {
      t.close();
      server.stop();
    }
  },
});
