import assert from "node:assert/strict";
import { ensureLoopbackShim, loopbackShimCompileArgv } from "../../lib/bmv2/loopback_shim.ts";
import { which } from "../../lib/capabilities.ts";

Deno.test("the shim compiles as a shared object that needs libdl", () => {
  assert.deepEqual(loopbackShimCompileArgv("a.c", "a.so"), [
    "gcc",
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-Wextra",
    "-o",
    "a.so",
    "a.c",
    "-ldl",
  ]);
});

/** Where a child process under the shim ends up listening when it asks for `hostname`. */
async function boundUnderShim(shim: string, hostname: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const l = Deno.listen({ hostname: "${hostname}", port: 0 }); ` +
      `console.log(l.addr.hostname); l.close();`,
    ],
    env: { LD_PRELOAD: shim },
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test({
  name: "under the shim a wildcard bind lands on loopback; explicit addresses are kept",
  ignore: !which("gcc"),
  fn: async () => {
    const shim = await ensureLoopbackShim();
    assert.equal(await boundUnderShim(shim, "0.0.0.0"), "127.0.0.1");
    assert.equal(await boundUnderShim(shim, "::"), "::ffff:127.0.0.1");
    assert.equal(await boundUnderShim(shim, "127.0.0.2"), "127.0.0.2");
  },
});
