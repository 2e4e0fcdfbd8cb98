import assert from "node:assert/strict";
import {
  encodeImage,
  ImageFormatError,
  MAGIC,
  magicName,
  parseImage,
  readImage,
  writeImage,
} from "../../lib/criu/images.ts";
import { decodeMessage, fieldUint, findField } from "../../lib/criu/protobuf_wire.ts";
import { DUMP1, dump1Images } from "./_fixtures.ts";

Deno.test("every real CRIU image round-trips byte-identical", () => {
  const names = dump1Images();
  assert.ok(names.includes("files.img") && names.includes("inventory.img"));
  for (const name of names) {
    const bytes = Deno.readFileSync(`${DUMP1}/${name}`);
    const image = parseImage(bytes, name);
    assert.deepEqual(encodeImage(image), bytes, name);
  }
});

Deno.test("head magics: common for images, none for inventory, service for stats", () => {
  const read = (n: string) => parseImage(Deno.readFileSync(`${DUMP1}/${n}`), n);
  const files = read("files.img");
  assert.equal(files.headMagic, MAGIC.IMG_COMMON);
  assert.equal(magicName(files.magic), "FILES");
  // exe, /dev/null, the log file, 3 sockets, cwd, root
  assert.equal(files.entries.length, 8);
  const inventory = read("inventory.img");
  assert.equal(inventory.headMagic, undefined);
  assert.equal(magicName(inventory.magic), "INVENTORY");
  const stats = read("stats-dump");
  assert.equal(stats.headMagic, MAGIC.IMG_SERVICE);
  assert.equal(magicName(stats.magic), "STATS");
  assert.equal(magicName(read("pstree.img").magic), "PSTREE");
  assert.equal(magicName(read("pagemap-714.img").magic), "PAGEMAP");
});

Deno.test("tcp-stream entries carry their queues as extra data of inq_len + outq_len bytes", () => {
  for (const name of dump1Images().filter((n) => n.startsWith("tcp-stream-"))) {
    const image = parseImage(Deno.readFileSync(`${DUMP1}/${name}`), name);
    assert.equal(magicName(image.magic), "TCP_STREAM");
    assert.equal(image.entries.length, 1);
    const f = decodeMessage(image.entries[0].payload);
    const inq = fieldUint(findField(f, 1))!;
    const outq = fieldUint(findField(f, 3))!;
    assert.equal(image.entries[0].extra?.length, inq + outq, name);
  }
});

Deno.test("parseImage rejects raw, unknown, unsupported and damaged files", () => {
  const files = Deno.readFileSync(`${DUMP1}/files.img`);
  const err = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof ImageFormatError && re.test(e.message));
  err(() => parseImage(new Uint8Array(4096), "pages-1.img"), /unknown magic 0x0/);
  err(() => parseImage(Uint8Array.of(1, 2), "x"), /shorter than a magic/);
  err(() => parseImage(files.subarray(0, files.length - 3), "files.img"), /runs past the end/);
  err(() => parseImage(files.subarray(0, 10), "files.img"), /truncated entry size/);
  const ghost = new Uint8Array(8);
  new DataView(ghost.buffer).setUint32(0, MAGIC.IMG_COMMON, true);
  new DataView(ghost.buffer).setUint32(4, MAGIC.GHOST_FILE, true);
  err(() => parseImage(ghost, "ghost"), /GHOST_FILE images are not supported/);
  err(() => parseImage(files.subarray(4), "files.img"), /lacks the common head magic/);
});

Deno.test("readImage names a missing file; writeImage is atomic and keeps the mode", async () => {
  await assert.rejects(() => readImage("/nonexistent/files.img"), /no such file/);
  const dir = await Deno.makeTempDir({ prefix: "p4t-img-" });
  try {
    const path = `${dir}/files.img`;
    await Deno.copyFile(`${DUMP1}/files.img`, path);
    await Deno.chmod(path, 0o640);
    const image = await readImage(path);
    image.entries = image.entries.slice(0, 2);
    await writeImage(path, image);
    assert.equal((await readImage(path)).entries.length, 2);
    assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o640);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["files.img"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
