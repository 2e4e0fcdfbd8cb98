import assert from "node:assert/strict";
import {
  bitLength,
  bytesToBigInt,
  canonicalBytes,
  decodeNumber,
  decodeValue,
  encodeLpm,
  encodeRange,
  encodeTernary,
  encodeValue,
  EncodingError,
  parseLpmText,
  toBigInt,
} from "../../lib/p4runtime/encoding.ts";

const b = (...xs: number[]) => Uint8Array.from(xs);

Deno.test("canonical bytestrings strip leading zeros and encode 0 as one zero byte", () => {
  assert.deepEqual(canonicalBytes(0n), b(0));
  assert.deepEqual(canonicalBytes(1n), b(1));
  assert.deepEqual(canonicalBytes(255n), b(255));
  assert.deepEqual(canonicalBytes(256n), b(1, 0));
  assert.deepEqual(canonicalBytes(0x0a000001n), b(10, 0, 0, 1));
  assert.deepEqual(canonicalBytes(0xffffffffn), b(255, 255, 255, 255));
  assert.deepEqual(canonicalBytes(0x100000000n), b(1, 0, 0, 0, 0));
  assert.deepEqual(canonicalBytes(0xaabbccddeeffn), b(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
  assert.deepEqual(canonicalBytes(0x0102030405060708090an), b(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
});

Deno.test("canonical bytes round-trip through decoding for many widths", () => {
  for (let bits = 0; bits <= 130; bits++) {
    for (const v of [(1n << BigInt(bits)) - 1n, 1n << BigInt(bits), (1n << BigInt(bits)) + 7n]) {
      const bytes = canonicalBytes(v);
      assert.equal(bytesToBigInt(bytes), v);
      assert.ok(bytes.length === 1 || bytes[0] !== 0, `leading zero for ${v}`);
      assert.equal(bytes.length, Math.max(1, Math.ceil(bitLength(v) / 8)));
    }
  }
});

Deno.test("values are parsed from numbers, bigints, IPv4, MAC, hex and decimal text", () => {
  assert.deepEqual(encodeValue("10.0.0.1", 32), b(10, 0, 0, 1));
  assert.deepEqual(encodeValue("0.0.0.5", 32), b(5));
  assert.deepEqual(encodeValue("00:00:00:00:00:01", 48), b(1));
  assert.deepEqual(encodeValue("AA-bb-cc-dd-ee-ff", 48), b(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
  assert.deepEqual(encodeValue("0x1F", 9), b(0x1f));
  assert.deepEqual(encodeValue("8080", 16), b(0x1f, 0x90));
  assert.deepEqual(encodeValue(0, 9), b(0));
  assert.deepEqual(encodeValue(511, 9), b(1, 255));
  assert.deepEqual(encodeValue(2n ** 64n - 1n, 64), new Uint8Array(8).fill(255));
  assert.deepEqual(encodeValue(b(0, 0, 10, 0, 0, 1), 32), b(10, 0, 0, 1));
  assert.deepEqual(encodeValue(b(0, 0), 8), b(0));
  assert.deepEqual(encodeValue(b(), 8), b(0));
});

Deno.test("values wider than the field are rejected with field, value and width", () => {
  assert.throws(() => encodeValue(512, 9, 'parameter "port"'), (e: unknown) => {
    assert.ok(e instanceof EncodingError);
    assert.match(e.message, /Value 512 does not fit in 9 bits of parameter "port"/);
    assert.match(e.hint ?? "", /bit<9>/);
    return true;
  });
  assert.throws(() => encodeValue("10.0.0.1", 16), /does not fit in 16 bits/);
  assert.throws(() => encodeValue(b(1, 0), 8), /0x0100 does not fit in 8 bits/);
  assert.throws(() => encodeValue(2n ** 48n, 48), /does not fit in 48 bits/);
  // bit<9> accepts 0x1ff in two bytes but not 0x200.
  assert.deepEqual(encodeValue(b(1, 0xff), 9), b(1, 0xff));
  assert.throws(() => encodeValue(b(2, 0), 9), EncodingError);
});

Deno.test("malformed and negative values are rejected", () => {
  assert.throws(() => encodeValue("10.0.0.256", 32), /Cannot encode "10.0.0.256"/);
  assert.throws(() => encodeValue("hello", 32, "x"), /Cannot encode "hello" for x/);
  assert.throws(() => encodeValue(-1, 8), /not a non-negative integer/);
  assert.throws(() => encodeValue(1.5, 8), /not a non-negative integer/);
  assert.throws(() => encodeValue(-3n, 8), /negative/);
  assert.throws(() => toBigInt(2 ** 60, 64), /not a non-negative integer/);
});

Deno.test("LPM values have the bits after the prefix cleared and prefix lengths checked", () => {
  assert.deepEqual(encodeLpm("10.1.2.3", 24, 32), { value: b(10, 1, 2, 0), prefix_len: 24 });
  assert.deepEqual(encodeLpm("10.1.2.3", 8, 32), { value: b(10, 0, 0, 0), prefix_len: 8 });
  assert.deepEqual(encodeLpm("10.1.2.3", 32, 32), { value: b(10, 1, 2, 3), prefix_len: 32 });
  assert.deepEqual(encodeLpm("255.255.255.255", 1, 32), { value: b(128, 0, 0, 0), prefix_len: 1 });
  assert.deepEqual(encodeLpm(0x1ff, 5, 9), { value: b(1, 0xf0), prefix_len: 5 });
  assert.deepEqual(encodeLpm("10.1.2.3", 0, 32), { value: b(0), prefix_len: 0 });
  assert.throws(() => encodeLpm("10.0.0.0", 33, 32, "f"), /Prefix length 33 of f is outside 0..32/);
  assert.throws(() => encodeLpm("10.0.0.0", -1, 32), /outside/);
  assert.deepEqual(parseLpmText("10.0.0.0/24", 32), { value: "10.0.0.0", prefixLen: 24 });
  assert.deepEqual(parseLpmText("10.0.0.1", 32), { value: "10.0.0.1", prefixLen: 32 });
  assert.throws(() => parseLpmText("10.0.0.0/x", 32), /Bad prefix length/);
});

Deno.test("ternary values are ANDed with the mask; ranges need low <= high", () => {
  assert.deepEqual(encodeTernary("10.1.2.3", "255.255.0.0", 32), {
    value: b(10, 1, 0, 0),
    mask: b(255, 255, 0, 0),
  });
  assert.deepEqual(encodeTernary(0, 0, 16), { value: b(0), mask: b(0) });
  assert.throws(() => encodeTernary(1, 0x1ffff, 16, "f"), /the mask of f/);
  assert.deepEqual(encodeRange(80, 8080, 16), { low: b(80), high: b(0x1f, 0x90) });
  assert.throws(() => encodeRange(10, 9, 16, "f"), /Range 10..9 of f has low > high/);
  assert.throws(() => encodeRange(0, 70000, 16), /high end/);
});

Deno.test("decoding accepts padded and canonical bytestrings", () => {
  assert.equal(decodeValue(b(0, 0, 0, 80)), 80n);
  assert.equal(decodeValue(b(80)), 80n);
  assert.equal(decodeValue(b()), 0n);
  assert.equal(decodeValue(undefined), 0n);
  assert.equal(decodeNumber(b(1, 0)), 256);
  assert.throws(() => decodeNumber(new Uint8Array(8).fill(255)), RangeError);
});
