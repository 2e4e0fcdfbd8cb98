/**
 * Exclusive locks held by a process: a lock file created with O_EXCL holding the owner's pid. A
 * lock whose owner died (a killed command) is taken over rather than blocking forever. Used for
 * "one lab up/down at a time" and "one migration per lab at a time".
 *
 * @module
 */
import { UserError } from "./errors.ts";
import { pidAlive } from "./shell.ts";

/** A live process holds the lock. */
export class LockedError extends UserError {
  override name = "LockedError";
}

/** A held lock; release it with `release()` or `await using`. */
export interface Lock extends AsyncDisposable {
  release(): Promise<void>;
}

/**
 * Takes the lock at `path`, or throws {@link LockedError} saying `busy(owner)` when a live
 * process holds it.
 */
export async function acquireLock(path: string, busy: (owner: number) => string): Promise<Lock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = await Deno.open(path, { write: true, createNew: true });
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      file.close();
      const release = () => Deno.remove(path).catch(() => {});
      return { release, [Symbol.asyncDispose]: release };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      const owner = await lockOwner(path);
      if (owner !== undefined) {
        throw new LockedError(busy(owner), {
          hint: `wait for it to finish; if pid ${owner} is not one of our commands, remove ${path}`,
        });
      }
      await Deno.remove(path).catch(() => {});
    }
  }
  throw new LockedError(`Could not take the lock ${path}`, {
    hint: "another command raced for it; try again",
  });
}

/** The pid of the live process holding the lock at `path`, or undefined when nobody does. */
export async function lockOwner(path: string): Promise<number | undefined> {
  const owner = Number.parseInt((await Deno.readTextFile(path).catch(() => "")).trim(), 10);
  return owner > 0 && pidAlive(owner) ? owner : undefined;
}
