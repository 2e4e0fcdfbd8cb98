/**
 * The pieces of a migration between machines that need no root: the transfer commands, the
 * post-copy log tally, the image receiver (on loopback), and the modes refused up front.
 */
import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { imageFiles, receiveImages, safeImageName } from "../../lib/machines/image_receiver.ts";
import { hasSysResource } from "../../lib/machines/pipe_size.ts";
import { socketExecArgv } from "../../lib/machines/socket_exec.ts";
import {
  dumpThroughUnderlayArgv,
  lazyPagesArgv,
  pageServerArgv,
  senderArgv,
} from "../../lib/machines/transfer.ts";
import { dumpArgv, restoreArgv } from "../../lib/criu/commands.ts";
import { parseLazyPagesLog, postDumpScript } from "../../lib/migrate/machine_driver.ts";
import { checkTransferMode } from "../../lib/migrate/machine_migration.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { testLab } from "../topology/_lab.ts";

const m2 = { name: "m2", netns: "t-m2", underlayIp: "172.30.1.2" };
const m3 = { name: "m3", netns: "t-m3", underlayIp: "172.30.1.3" };
const source = { machine: m2, dir: "/run/x/m2/images" };
const target = { machine: m3, dir: "/run/x/m3/images" };

Deno.test("memory crosses by the page server; CRIU's socket is made in the machine's namespace", () => {
  assert.deepEqual(pageServerArgv("criu", target), [
    "nsenter",
    "--net=/run/netns/t-m3",
    "--",
    "criu",
    "page-server",
    "-D",
    target.dir,
    "--address",
    "172.30.1.3",
    "--port",
    "27010",
    "-v4",
    "-o",
    "page-server.log",
  ]);
  const dump = dumpArgv({
    criu: "criu",
    netns: "t-h2",
    pid: 42,
    imagesDir: source.dir,
    psSocket: 3,
  });
  assert.deepEqual(dump.slice(-3), ["--page-server", "--ps-socket", "3"]);
  const lazy = dumpArgv({
    criu: "criu",
    pid: 42,
    imagesDir: source.dir,
    psSocket: 3,
    lazyPages: true,
  });
  assert.deepEqual(
    lazy.slice(-3),
    ["--lazy-pages", "--ps-socket", "3"],
    "post-copy serves, sends nothing",
  );
  assert.ok(
    restoreArgv({ criu: "criu", imagesDir: "/d", pidFile: "/p", lazyPages: true }).includes(
      "--lazy-pages",
    ),
  );
  assert.deepEqual(dumpThroughUnderlayArgv("/bin/h", source, target, dump, 5000).slice(0, 9), [
    "nsenter",
    "--net=/run/netns/t-m2",
    "--",
    "/bin/h",
    "connect",
    "172.30.1.3",
    "27010",
    "5000",
    "--",
  ]);
  const lp = lazyPagesArgv("criu", "/bin/h", target, "/run/x/m3/lazy.start", 9000);
  assert.deepEqual(lp.slice(3, 10), [
    "/bin/h",
    "listen",
    "172.30.1.3",
    "27010",
    "9000",
    "/run/x/m3/lazy.start",
    "--",
  ]);
  assert.deepEqual(lp.slice(10, 15), ["criu", "lazy-pages", "--page-server", "--ps-socket", "3"]);
  assert.deepEqual(
    socketExecArgv({ binary: "b", mode: "connect", address: "a", port: 1, timeoutMs: 2 }, ["x"]),
    [
      "b",
      "connect",
      "a",
      "1",
      "2",
      "--",
      "x",
    ],
  );
  const send = senderArgv("/bin/h", source, target, 5000, ["pstree.img", "files.img"]);
  assert.deepEqual(send.slice(4, 7), ["connect", "172.30.1.3", "27011"]);
  assert.deepEqual(send.slice(-4), ["sh", source.dir, "pstree.img", "files.img"]);
});

Deno.test("the post-copy tally: faults, and pages so far or the daemon's final count", () => {
  const cut = [
    "(0.01) uffd: 1-9: Found 300 pages to be handled by UFFD",
    "(0.02) uffd: 1-9: #PF at 0x2bc02000",
    "(0.03) uffd: 1-9: uffd_copy: 0x2bc02000/4096",
    "(0.04) uffd: 1-9: uffd_copy: 0x7f0000000000/1048576",
  ].join("\n");
  assert.deepEqual(parseLazyPagesLog(cut), { faults: 1, transferred: 257, total: 300 });
  assert.deepEqual(
    parseLazyPagesLog(`${cut}\n(0.5) uffd: 1-9: UFFD transferred pages: (300/300)`),
    { faults: 1, transferred: 300, total: 300 },
  );
  assert.match(postDumpScript("/d/dump.done"), /post-dump \] && : > '\/d\/dump.done'/);
});

Deno.test("CAP_SYS_RESOURCE is read from the effective capability mask", () => {
  assert.equal(hasSysResource("000001ffffffffff"), true);
  assert.equal(hasSysResource("000001fffeffffff"), false);
});

Deno.test("the image receiver writes plain image files and nothing else", async () => {
  assert.equal(safeImageName("./pages-1.img"), "pages-1.img");
  assert.equal(safeImageName("../etc/passwd"), undefined);
  assert.equal(safeImageName("a/b.img"), undefined);
  assert.equal(safeImageName("received.json"), undefined);
  const dir = await Deno.makeTempDir({ prefix: "p4t-recv-" });
  const out = await Deno.makeTempDir({ prefix: "p4t-recv-out-" });
  try {
    await Deno.writeTextFile(`${dir}/pstree.img`, "tree");
    await Deno.writeFile(`${dir}/pages-1.img`, new Uint8Array(10_000).fill(7));
    const tar = await new Deno.Command("tar", {
      args: ["-C", dir, "-cf", "-", "."],
      stdout: "piped",
    })
      .output();
    assert.deepEqual(imageFiles(tar.stdout).map((f) => f.name).sort(), [
      "pages-1.img",
      "pstree.img",
    ]);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const received = receiveImages(listener, out, "127.0.0.1", 10_000);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    await conn.write(tar.stdout);
    conn.close();
    const summary = await received;
    listener.close();
    assert.equal(summary.files, 2);
    assert.equal(summary.bytes, 10_004);
    assert.deepEqual(await Deno.readFile(`${out}/pages-1.img`), new Uint8Array(10_000).fill(7));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("modes that cannot apply are refused up front, with the reason", async () => {
  const shell = new RecordingShell();
  const { lab: one, runRoot: r1 } = await testLab("process-migration");
  const { lab: many, runRoot: r2 } = await testLab("process-machines");
  try {
    const h = (lab: typeof one, name: string) => lab.hosts.find((x) => x.name === name)!;
    await assert.rejects(
      () => checkTransferMode(shell, one, h(one, "h2"), h(one, "h3"), "process", { lazy: true }),
      (err: unknown) =>
        err instanceof UserError &&
        /--lazy \(post-copy\) is for process workloads of a lab with machines/.test(err.message),
    );
    assert.equal(
      await checkTransferMode(shell, one, h(one, "h2"), h(one, "h3"), "process", {}),
      undefined,
    );
    await assert.rejects(
      () => checkTransferMode(shell, many, h(many, "h2"), h(many, "h3"), "container", {}),
      /A container cannot move from m2 to m3/,
    );
    await assert.rejects(
      () =>
        checkTransferMode(shell, many, h(many, "h2"), h(many, "h3"), "process", {
          lazy: true,
          preDumpRounds: 1,
        }),
      /--lazy and --pre-dump are two ways/,
    );
    await assert.rejects(
      () =>
        checkTransferMode(shell, many, h(many, "h2"), h(many, "h3"), "process", {
          preDumpRounds: 2,
        }),
      /--pre-dump in a lab with machines .* is not supported/,
    );
    const crossing = await checkTransferMode(
      shell,
      many,
      h(many, "h2"),
      h(many, "h3"),
      "process",
      {},
    );
    assert.equal(crossing?.mode, "stop-and-copy");
    assert.deepEqual([crossing?.source.name, crossing?.target.name], ["m2", "m3"]);
    assert.deepEqual(shell.calls, [], "stop-and-copy needs no probe");
  } finally {
    await Deno.remove(r1, { recursive: true });
    await Deno.remove(r2, { recursive: true });
  }
});
