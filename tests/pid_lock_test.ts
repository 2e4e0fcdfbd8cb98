import assert from "node:assert/strict";
import { acquireLock, LockedError } from "../lib/pid_lock.ts";

const busy = (owner: number) => `a migration of lab x is running (pid ${owner})`;

Deno.test("a second lock on the same lab is refused while the first is held", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/migrate.lock`;
    const first = await acquireLock(path, busy);
    await assert.rejects(acquireLock(path, busy), LockedError);
    await first.release();
    const again = await acquireLock(path, busy);
    await again.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock left by a dead process is taken over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/migrate.lock`;
    const child = new Deno.Command("true").spawn();
    const { pid } = child;
    await child.status;
    await Deno.writeTextFile(path, `${pid}\n`);
    await using _lock = await acquireLock(path, busy);
    assert.equal((await Deno.readTextFile(path)).trim(), String(Deno.pid));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
