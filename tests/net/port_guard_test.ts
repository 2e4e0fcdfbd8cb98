import assert from "node:assert/strict";
import {
  parseNftTables,
  portGuardArgv,
  portGuardRemovalArgv,
  portGuardTable,
} from "../../lib/net/port_guard.ts";
import { capTest } from "../_caps.ts";

Deno.test("the port guard rejects other users' connections to the lab's ports, sorted, deduplicated", () => {
  const argv = portGuardArgv("pm", [9091, 50051, 9091]);
  assert.equal(argv[0], "nft");
  assert.match(argv[1], /^add table inet p4cf_pm; /);
  assert.match(argv[1], /hook output priority -300/);
  assert.match(
    argv[1],
    /ip daddr 127\.0\.0\.0\/8 tcp dport \{ 9091, 50051 \} meta skuid != 0 reject with tcp reset/,
  );
  assert.deepEqual(portGuardRemovalArgv(portGuardTable("pm")), [
    "nft",
    "delete",
    "table",
    "inet",
    "p4cf_pm",
  ]);
  assert.deepEqual(
    parseNftTables("table ip filter\ntable inet p4cf_pm\ntable inet p4cf_hc\n"),
    new Set(["p4cf_pm", "p4cf_hc"]),
  );
});

async function connectAs(uid: number | undefined, port: number): Promise<boolean> {
  const script =
    `const c = await Deno.connect({ hostname: "127.0.0.1", port: ${port} }); c.close();`;
  const cmd = uid === undefined ? [Deno.execPath(), "eval", script] : [
    "setpriv",
    `--reuid=${uid}`,
    `--regid=${uid}`,
    "--clear-groups",
    Deno.execPath(),
    "eval",
    script,
  ];
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "null",
    env: { DENO_DIR: "/tmp/p4t-deno-nobody", HOME: "/tmp" },
  }).output();
  return out.code === 0;
}

capTest({
  name: "port guard: user nobody cannot connect to a guarded loopback port, root can",
  needs: ["root"],
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = (async () => {
      for await (const c of listener) c.close();
    })();
    const id = `g${crypto.randomUUID().slice(0, 4)}`;
    const run = (argv: string[]) =>
      new Deno.Command(argv[0], { args: argv.slice(1), stdout: "null" }).output();
    try {
      assert.equal(await connectAs(65534, port), true, "unguarded: nobody connects");
      assert.equal((await run(portGuardArgv(id, [port]))).code, 0);
      assert.equal(await connectAs(65534, port), false, "guarded: nobody is refused");
      assert.equal(await connectAs(undefined, port), true, "guarded: root connects");
    } finally {
      await run(portGuardRemovalArgv(portGuardTable(id)));
      listener.close();
      await accepting.catch(() => {});
    }
  },
});
