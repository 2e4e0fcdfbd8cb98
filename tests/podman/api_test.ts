import assert from "node:assert/strict";
import {
  apiRequest,
  holdService,
  httpRequest,
  MAX_SOCKET_PATH,
  parseHttpResponse,
  PING_PATH,
  restorePath,
  serviceArgv,
  ServiceUnreachableError,
  waitForService,
} from "../../lib/podman/api.ts";

Deno.test("the API service listens on a unix socket and exits when idle", () => {
  assert.deepEqual(serviceArgv("/run/x/podman.sock", 30), [
    "podman",
    "system",
    "service",
    "--time",
    "30",
    "unix:///run/x/podman.sock",
  ]);
  assert.throws(() => serviceArgv("rel.sock", 30), RangeError);
  assert.throws(
    () => serviceArgv(`/${"a".repeat(MAX_SOCKET_PATH)}`, 30),
    /longer than a unix socket/,
  );
});

Deno.test("restore requests name the container and keep its established connections", () => {
  assert.equal(
    restorePath("hc-server-p4cf-next"),
    "/v4.0.0/libpod/containers/hc-server-p4cf-next/restore?tcpEstablished=true",
  );
  assert.equal(
    new TextDecoder().decode(httpRequest("POST", "/x")),
    "POST /x HTTP/1.0\r\nHost: podman\r\n\r\n",
  );
});

Deno.test("HTTP responses are read with their status and body", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(
    parseHttpResponse(enc('HTTP/1.0 500 Internal Server Error\r\nContent-Type: x\r\n\r\n{"m":1}')),
    { status: 500, body: '{"m":1}' },
  );
  assert.deepEqual(parseHttpResponse(enc("HTTP/1.1 200 OK\r\n\r\n")), { status: 200, body: "" });
  assert.throws(() => parseHttpResponse(enc("SSH-2.0")), SyntaxError);
});

Deno.test("a request goes over the socket and returns the service's answer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-api-" });
  const socket = `${dir}/s.sock`;
  try {
    assert.equal(await waitForService(socket, 30), false, "nothing listens yet");
    await assert.rejects(apiRequest(socket, "POST", "/x"), ServiceUnreachableError);
    const listener = Deno.listen({ transport: "unix", path: socket });
    const seen: string[] = [];
    const serving = (async () => {
      for await (const conn of listener) {
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
        seen.push(line);
        const ok = line.startsWith(`GET ${PING_PATH} `);
        await conn.write(
          new TextEncoder().encode(ok ? "HTTP/1.0 200 OK\r\n\r\nOK" : "HTTP/1.0 404 NF\r\n\r\nno"),
        );
        conn.close();
      }
    })();
    assert.equal(await waitForService(socket, 2000), true);
    (await holdService(socket)).close();
    assert.deepEqual(await apiRequest(socket, "POST", "/other"), { status: 404, body: "no" });
    assert.deepEqual(seen, [
      `GET ${PING_PATH} HTTP/1.0`,
      `GET ${PING_PATH} HTTP/1.1`,
      "POST /other HTTP/1.0",
    ]);
    listener.close();
    await serving.catch(() => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
