import assert from "node:assert/strict";
import { MissingCapabilityError } from "../../lib/errors.ts";
import { containerfile, imageFiles, parseLdd } from "../../lib/topology/host_image.ts";
import { bmv2ImageSpec } from "../../lib/topology/bmv2_image.ts";
import { defaultShell } from "../../lib/shell.ts";
import { buildHostImage } from "../../lib/topology/host_image.ts";
import { capTest } from "../_caps.ts";
import { randomTag, sh } from "./_lab.ts";

const LDD = `	linux-vdso.so.1 (0x00007ffd5b7e5000)
	libbmpi.so.0 => /usr/local/lib/libbmpi.so.0 (0x00007f2a1c000000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2a1be00000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f2a1d400000)
`;

Deno.test("ldd output gives the libraries and the loader, not the vDSO", () => {
  assert.deepEqual(parseLdd(LDD, "x"), [
    "/usr/local/lib/libbmpi.so.0",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
  ]);
  assert.deepEqual(parseLdd("\tnot a dynamic executable\n", "x"), []);
  assert.throws(
    () => parseLdd("\tlibpi.so.0 => not found\n", "/usr/local/bin/ss"),
    (err: unknown) => {
      assert.ok(err instanceof MissingCapabilityError);
      assert.match(err.message, /\/usr\/local\/bin\/ss needs libpi\.so\.0/);
      return true;
    },
  );
});

Deno.test("the Containerfile copies the root, sets the library path, labels and entrypoint", () => {
  const spec = bmv2ImageSpec("/usr/local/bin/simple_switch_grpc");
  const files = [
    "/usr/local/bin/simple_switch_grpc",
    "/usr/local/lib/libbmpi.so.0",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
  ];
  assert.equal(
    containerfile(spec, files, "abc123"),
    [
      "FROM scratch",
      "COPY rootfs/ /",
      "ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/lib64:/usr/local/lib",
      'LABEL p4cf.image="bmv2"',
      'LABEL p4cf.image.hash="abc123"',
      'ENTRYPOINT ["/usr/local/bin/simple_switch_grpc"]',
      "",
    ].join("\n"),
  );
});

Deno.test("imageFiles lists a real binary with its libraries", async () => {
  const files = await imageFiles(defaultShell, ["/usr/bin/sleep"]);
  assert.ok(files.includes("/usr/bin/sleep"));
  assert.ok(files.some((f) => /\/libc\.so\.6$/.test(f)));
  assert.ok(files.some((f) => /ld-linux/.test(f)));
});

capTest({
  name:
    "an image built from the machine's redis-server runs it, and is not rebuilt when nothing changed",
  needs: ["podman", "redis"],
  fn: async () => {
    const tag = `localhost/p4t-redis-${randomTag()}:test`;
    try {
      const first = await buildHostImage(defaultShell, {
        tag,
        binaries: ["/usr/bin/redis-server"],
        dirs: ["/tmp"],
        stripDebug: true,
      });
      assert.equal(first.built, true);
      const version = await sh("podman", "run", "--rm", "--network", "none", tag, "--version");
      assert.match(version, /^Redis server v=/);
      const second = await buildHostImage(defaultShell, {
        tag,
        binaries: ["/usr/bin/redis-server"],
        dirs: ["/tmp"],
        stripDebug: true,
      });
      assert.deepEqual([second.built, second.hash], [false, first.hash]);
    } finally {
      await sh("podman", "rmi", "--force", tag).catch(() => "");
    }
  },
});
