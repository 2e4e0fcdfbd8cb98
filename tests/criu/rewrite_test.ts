import assert from "node:assert/strict";
import { type CriuImage, encodeImage, MAGIC, parseImage } from "../../lib/criu/images.ts";
import {
  decodeMessage,
  encodeMessage,
  lenField,
  varintField,
} from "../../lib/criu/protobuf_wire.ts";
import {
  originalFilesImage,
  rewriteDumpAddresses,
  rewriteInetAddresses,
  undoAddressRewrite,
} from "../../lib/criu/rewrite.ts";
import { ipv4ToWord, V4_MAPPED_WORD } from "../../lib/criu/sockets.ts";
import { parseIpv4 } from "../../lib/net/addr.ts";
import { UserError } from "../../lib/errors.ts";
import {
  copyDump1,
  DUMP1,
  DUMP1_CLIENT_IP,
  DUMP1_REWRITTEN_FILES,
  DUMP1_SOURCE_IP,
  DUMP1_TARGET_IP,
  dump1Images,
} from "./_fixtures.ts";

const A = DUMP1_SOURCE_IP;
const B = DUMP1_TARGET_IP;
const files = () => parseImage(Deno.readFileSync(`${DUMP1}/files.img`), "files.img");

Deno.test("rewrite A->B changes the three sockets and leaves every other entry's bytes alone", () => {
  const original = files();
  const { image, changed } = rewriteInetAddresses(original, { from: A, to: B });
  assert.deepEqual(changed.map((c) => [c.state, c.before.src, c.after.src, c.after.dst]), [
    ["LISTEN", A, B, "0.0.0.0"],
    ["ESTABLISHED", A, B, DUMP1_CLIENT_IP],
    ["ESTABLISHED", A, B, DUMP1_CLIENT_IP],
  ]);
  assert.equal(image.entries.length, original.entries.length);
  let untouched = 0;
  image.entries.forEach((e, i) => {
    if (e === original.entries[i]) untouched++;
  });
  assert.equal(untouched, original.entries.length - 3);
  // Inside a changed entry, every field but src_addr is the same bytes.
  for (const i of [3, 4, 5]) {
    const isk = (img: CriuImage) =>
      decodeMessage(decodeMessage(img.entries[i].payload)[2].payload!);
    const before = isk(original).filter((f) => f.number !== 11);
    const after = isk(image).filter((f) => f.number !== 11);
    assert.deepEqual(after.map((f) => f.bytes), before.map((f) => f.bytes));
  }
});

Deno.test("rewrite A->B is what CRIU restored in the target; B->A gives back CRIU's bytes", () => {
  const original = Deno.readFileSync(`${DUMP1}/files.img`);
  const ab = encodeImage(rewriteInetAddresses(files(), { from: A, to: B }).image);
  assert.deepEqual(ab, Deno.readFileSync(DUMP1_REWRITTEN_FILES));
  const ba = rewriteInetAddresses(parseImage(ab), { from: B, to: A });
  assert.deepEqual(encodeImage(ba.image), original);
  // An address whose varint is longer (10.99.2.2 -> 200.200.200.200) also round-trips.
  const far = rewriteInetAddresses(files(), { from: A, to: "200.200.200.200" }).image;
  const back = rewriteInetAddresses(far, { from: "200.200.200.200", to: A }).image;
  assert.notEqual(encodeImage(far).length, original.length);
  assert.deepEqual(encodeImage(back), original);
});

Deno.test("rewrite of an address no socket uses changes nothing", () => {
  const original = files();
  const { image, changed } = rewriteInetAddresses(original, { from: "192.0.2.1", to: B });
  assert.deepEqual(changed, []);
  assert.deepEqual(image.entries, original.entries);
});

Deno.test("rewrite handles IPv4-mapped IPv6 sockets and leaves real IPv6 alone", () => {
  const w = (ip: string) => ipv4ToWord(parseIpv4(ip)!);
  const sk = (family: number, src: bigint[], dst: bigint[]) =>
    encodeMessage([
      varintField(1, 7),
      lenField(
        4,
        encodeMessage([
          varintField(1, 7),
          varintField(2, 1234),
          varintField(3, family),
          varintField(6, 1),
          ...src.map((v) => varintField(11, v)),
          ...dst.map((v) => varintField(12, v)),
        ]),
      ),
    ]);
  const entry = (family: number, src: bigint[], dst: bigint[]) => ({
    payload: encodeMessage([varintField(1, 4), ...decodeMessage(sk(family, src, dst)).slice(1)]),
  });
  const mapped = [0n, 0n, V4_MAPPED_WORD, w(A)];
  const image: CriuImage = {
    headMagic: MAGIC.IMG_COMMON,
    magic: MAGIC.FILES,
    entries: [
      entry(10, mapped, [0n, 0n, V4_MAPPED_WORD, w(DUMP1_CLIENT_IP)]),
      entry(10, [0n, 0n, 0n, w(A)], [0n, 0n, 0n, 0n]),
    ],
  };
  const { image: out, changed } = rewriteInetAddresses(image, { from: A, to: B });
  assert.equal(changed.length, 1);
  assert.equal(changed[0].after.src, `::ffff:${B}`);
  assert.equal(changed[0].after.dst, `::ffff:${DUMP1_CLIENT_IP}`);
  assert.equal(out.entries[1], image.entries[1]);
});

Deno.test("rewrite refuses bad addresses and images other than files.img", () => {
  assert.throws(
    () => rewriteInetAddresses(files(), { from: "10.0.0.300", to: B }),
    (e: unknown) => e instanceof UserError && /old address "10.0.0.300"/.test(e.message),
  );
  const inventory = parseImage(Deno.readFileSync(`${DUMP1}/inventory.img`));
  assert.throws(() => rewriteInetAddresses(inventory, { from: A, to: B }), /not files\.img/);
});

Deno.test("rewriteDumpAddresses keeps CRIU's original; undo puts it back; repeatable", async () => {
  const dir = await copyDump1();
  try {
    const original = await Deno.readFile(`${dir}/files.img`);
    const first = await rewriteDumpAddresses(dir, { from: A, to: B });
    assert.equal(first.changed.length, 3);
    assert.deepEqual(await Deno.readFile(originalFilesImage(dir)), original);
    // A second rewrite (B->C) must not overwrite the backup of CRIU's bytes.
    await rewriteDumpAddresses(dir, { from: B, to: "10.99.4.2" });
    assert.deepEqual(await Deno.readFile(originalFilesImage(dir)), original);
    assert.equal(await undoAddressRewrite(dir), true);
    assert.deepEqual(await Deno.readFile(`${dir}/files.img`), original);
    assert.equal(await undoAddressRewrite(dir), false);

    // Back and forth 21 times: each rewrite finds its sockets again (its speed is measured by
    // `deno task bench migration`, phase rewrite).
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const to = i % 2 ? A : B;
      const from = i % 2 ? B : A;
      times.push((await rewriteDumpAddresses(dir, { from, to })).elapsedMs);
    }
    times.sort((a, b) => a - b);
    const median = times[10];
    console.log(`rewrite of files.img (${original.length} bytes): median ${median.toFixed(2)} ms`);
    assert.equal((await rewriteDumpAddresses(dir, { from: B, to: A })).changed.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no image but files.img holds the server address (tcp-stream, inventory... do not)", () => {
  const word = ipv4ToWord(parseIpv4(A)!);
  const varint = encodeMessage([varintField(11, word)]).subarray(1);
  const raw = Uint8Array.of(10, 99, 2, 2);
  const holders: string[] = [];
  const contains = (hay: Uint8Array, needle: Uint8Array) => {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  for (const name of dump1Images()) {
    const bytes = Deno.readFileSync(`${DUMP1}/${name}`);
    if (contains(bytes, varint) || contains(bytes, raw)) holders.push(name);
  }
  assert.deepEqual(holders, ["files.img"]);
  assert.ok(!dump1Images().some((n) => /^(netdev|ifaddr|route|netns)/.test(n)));
});
