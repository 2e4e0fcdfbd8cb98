import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { findExercise } from "../../lib/exercises/catalog.ts";
import {
  claimSeat,
  exerciseIdentity,
  preferredSeat,
  releaseSeat,
  SEAT_COUNT,
  seatPorts,
  studentKey,
  studentSlug,
} from "../../lib/exercises/student.ts";
import { LAB_ID_PATTERN } from "../../lib/lab/naming.ts";

Deno.test("the student is the option, else the user behind sudo, else the login", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(studentKey({ option: "s07", env: env({ SUDO_USER: "bob" }) }), "s07");
  assert.equal(studentKey({ env: env({ SUDO_USER: "bob", USER: "root" }) }), "bob");
  assert.equal(studentKey({ env: env({ SUDO_USER: "root", USER: "root" }) }), "root");
  assert.equal(studentKey({ env: env({ LOGNAME: "carol" }) }), "carol");
  assert.throws(() => studentKey({ option: "a b" }), UserError);
  assert.equal(studentSlug("Alice.Smith_2"), "alice-smith-2");
});

Deno.test("each exercise of each seat gets its own name, id and ports", () => {
  const ids = new Set<string>();
  const ports = new Set<number>();
  for (const seat of [0, 1, 42, SEAT_COUNT - 1]) {
    for (let n = 1; n <= 6; n++) {
      const id = exerciseIdentity(findExercise(n), { key: `s${seat}`, seat });
      assert.match(id.id, LAB_ID_PATTERN);
      assert.equal(id.name, `exercise-${n}-s${seat}`);
      assert.ok(!ids.has(id.id));
      ids.add(id.id);
      for (const p of [id.grpcPort, id.thriftPort]) {
        assert.ok(!ports.has(p) && p >= 1024 && p < 32768, `port ${p}`);
        assert.ok(seatPorts(seat).includes(p));
        ports.add(p);
      }
    }
  }
  assert.deepEqual(exerciseIdentity(findExercise(3), { key: "alice", seat: 42 }), {
    name: "exercise-3-alice",
    id: "e3042",
    grpcPort: 12508,
    thriftPort: 12509,
  });
});

Deno.test("seats: claimed once, the same again, never shared, given back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-seats-" });
  try {
    const a = await claimSeat("alice", { dir });
    assert.equal(a.seat >= 0 && a.seat < SEAT_COUNT, true);
    assert.deepEqual(await claimSeat("alice", { dir }), a);
    // Thirty students at once: thirty different seats.
    const keys = Array.from({ length: 30 }, (_, i) => `student${i}`);
    const seats = await Promise.all(keys.map((k) => claimSeat(k, { dir })));
    assert.equal(new Set([a.seat, ...seats.map((s) => s.seat)]).size, 31);
    assert.equal(preferredSeat("alice"), preferredSeat("alice"));
    assert.equal(await releaseSeat("alice", { dir }), true);
    assert.equal(await releaseSeat("alice", { dir }), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
