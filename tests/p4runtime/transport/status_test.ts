/** gRPC status from headers and trailers, and length-prefixed message framing. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Code } from "../../../lib/p4runtime/messages.ts";
import { H2Error } from "../../../lib/p4runtime/transport/frames.ts";
import { MessageParser, messagePrefix } from "../../../lib/p4runtime/transport/message_framing.ts";
import {
  checkResponseHeaders,
  codeForHttpStatus,
  codeForReset,
  percentDecode,
  RpcError,
  statusFromTrailers,
} from "../../../lib/p4runtime/transport/status.ts";

const fields = (o: Record<string, string>) =>
  Object.entries(o).map(([name, value]) => ({ name, value }));

Deno.test("grpc-message is percent-decoded as UTF-8; malformed escapes stay as they are", () => {
  assert.equal(percentDecode("Match entry exists"), "Match entry exists");
  assert.equal(percentDecode("100%25 sure%2C caf%C3%A9"), "100% sure, café");
  assert.equal(percentDecode("50% off %zz %4"), "50% off %zz %4");
});

Deno.test("trailers give OK, or the code, decoded message and details bytes", () => {
  assert.equal(statusFromTrailers(fields({ "grpc-status": "0" })), undefined);
  const details = Uint8Array.of(8, 2, 0x12, 1, 0x78);
  for (const b64 of [Buffer.from(details).toString("base64"), "CAISAXg"]) {
    const e = statusFromTrailers(fields({
      "grpc-status": "2",
      "grpc-message": "Write failed%3A 1 of 3",
      "grpc-status-details-bin": b64,
    }));
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, Code.UNKNOWN);
    assert.equal(e.details, "Write failed: 1 of 3");
    assert.deepEqual(e.statusDetails, details);
    assert.equal(e.message, "UNKNOWN: Write failed: 1 of 3");
  }
  assert.match(statusFromTrailers(fields({}))!.details, /without a grpc-status/);
  assert.match(statusFromTrailers(fields({ "grpc-status": "x" }))!.details, /not a number/);
});

Deno.test("response headers must be HTTP 200 with a gRPC content type", () => {
  assert.equal(
    checkResponseHeaders(fields({ ":status": "200", "content-type": "application/grpc+proto" })),
    undefined,
  );
  const e = checkResponseHeaders(fields({ ":status": "404", "content-type": "text/html" }))!;
  assert.equal(e.code, Code.UNIMPLEMENTED);
  assert.match(e.details, /HTTP status 404/);
  const t = checkResponseHeaders(fields({ ":status": "200", "content-type": "text/html" }))!;
  assert.equal(t.code, Code.UNKNOWN);
  assert.match(t.details, /content-type "text\/html", not gRPC/);
  assert.equal(codeForHttpStatus(503), Code.UNAVAILABLE);
  assert.equal(codeForHttpStatus(401), Code.UNAUTHENTICATED);
  assert.equal(codeForReset(H2Error.REFUSED_STREAM), Code.UNAVAILABLE);
  assert.equal(codeForReset(H2Error.CANCEL), Code.CANCELLED);
  assert.equal(codeForReset(H2Error.PROTOCOL_ERROR), Code.INTERNAL);
});

Deno.test("messages are reassembled across DATA payloads cut anywhere", () => {
  const a = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const b = Uint8Array.of();
  const c = Uint8Array.of(7);
  const wire = new Uint8Array([
    ...messagePrefix(a.length),
    ...a,
    ...messagePrefix(0),
    ...messagePrefix(1),
    ...c,
  ]);
  for (const step of [1, 3, 5, 6, 100, wire.length]) {
    const p = new MessageParser(1000);
    const got: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += step) got.push(...p.push(wire.slice(i, i + step)));
    assert.deepEqual(got, [a, b, c]);
    assert.equal(p.idle, true);
  }
  const half = new MessageParser(1000);
  half.push(wire.subarray(0, 10));
  assert.equal(half.idle, false);
});

Deno.test("compressed or oversized messages are refused with a clear status", () => {
  assert.throws(
    () => new MessageParser(10).push(Uint8Array.of(1, 0, 0, 0, 1, 9)),
    (e: unknown) =>
      e instanceof RpcError && e.code === Code.INTERNAL && /compressed/.test(e.details),
  );
  assert.throws(
    () => new MessageParser(10).push(messagePrefix(11)),
    (e: unknown) =>
      e instanceof RpcError && e.code === Code.RESOURCE_EXHAUSTED &&
      /11 bytes exceeds the limit of 10/.test(e.details),
  );
});
