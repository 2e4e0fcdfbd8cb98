import assert from "node:assert/strict";
import { buildHostImage, containerfile, parseLdd } from "../../lib/images/from_host.ts";
import { DaxShell } from "../../lib/shell.ts";
import { capTest } from "../_caps.ts";

Deno.test("parseLdd keeps resolved libraries and the loader, skips the vdso", () => {
  const out = [
    "\tlinux-vdso.so.1 (0x00007ffd)",
    "\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f)",
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)",
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)",
  ].join("\n");
  assert.deepEqual(parseLdd(out), [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libssl.so.3",
    "/lib64/ld-linux-x86-64.so.2",
  ]);
  assert.deepEqual(parseLdd("\tnot a dynamic executable"), []);
});

Deno.test("containerfile starts from scratch and quotes labels and entrypoint", () => {
  const text = containerfile({
    tag: "x",
    binaries: [],
    entrypoint: ["/usr/bin/redis-server", "--port", "6379"],
    labels: { "p4cf.image": "redis" },
  });
  assert.equal(
    text,
    'FROM scratch\nCOPY rootfs/ /\nLABEL "p4cf.image"="redis"\n' +
      'ENTRYPOINT ["/usr/bin/redis-server","--port","6379"]\n',
  );
});

capTest({
  name: "an image built from a dynamically linked host binary runs offline",
  needs: ["podman"],
  async fn() {
    const shell = new DaxShell();
    const tag = `localhost/p4cf-test-true-${crypto.randomUUID().slice(0, 8)}:latest`;
    try {
      const built = await buildHostImage(shell, {
        tag,
        binaries: ["/usr/bin/echo"],
        entrypoint: ["/usr/bin/echo", "hello from scratch"],
      });
      assert.equal(built, true);
      assert.equal(await buildHostImage(shell, { tag, binaries: [], entrypoint: [] }), false);
      const run = await shell.run(["podman", "run", "--rm", "--network", "none", tag]);
      assert.equal(run.stdout.trim(), "hello from scratch");
    } finally {
      await shell.run(["podman", "rmi", "-f", tag], { check: false });
    }
  },
});
