import assert from "node:assert/strict";
import { MAX_SLAB_BYTES, smallBytes } from "../../lib/p4runtime/byte_slab.ts";

Deno.test("small byte arrays are zeroed, separate ranges of shared slabs; large ones their own", () => {
  const seen: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const b = smallBytes(1 + (i % 40));
    assert.equal(b.length, 1 + (i % 40));
    assert.ok(b.every((x) => x === 0), "zeroed");
    b.fill(0xff); // Writing one never shows in another.
    seen.push(b);
  }
  for (let i = 0; i < seen.length; i++) assert.ok(seen[i].every((x) => x === 0xff), `array ${i}`);
  assert.equal(smallBytes(8).buffer, smallBytes(8).buffer, "from one slab");
  const big = smallBytes(MAX_SLAB_BYTES + 1);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, MAX_SLAB_BYTES + 1);
  assert.equal(smallBytes(0).length, 0);
});
