/**
 * One migration per lab at a time: an exclusive lock file holding the owner's pid. A lock whose
 * owner died (a killed `migrate`) is taken over rather than blocking the lab forever.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { pidAlive } from "../shell.ts";

export class MigrationLockedError extends UserError {
  override name = "MigrationLockedError";
}

/** A held lock; release it with `release()` or `await using`. */
export interface Lock extends AsyncDisposable {
  release(): Promise<void>;
}

/** Takes the lock at `path`, or throws {@link MigrationLockedError} if a live process holds it. */
export async function acquireLock(path: string, what: string): Promise<Lock> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await Deno.open(path, { write: true, createNew: true });
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      file.close();
      const release = () => Deno.remove(path).catch(() => {});
      return { release, [Symbol.asyncDispose]: release };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      const owner = Number.parseInt((await Deno.readTextFile(path).catch(() => "")).trim(), 10);
      if (owner > 0 && pidAlive(owner)) {
        throw new MigrationLockedError(`${what} is already in progress (pid ${owner})`, {
          hint: `wait for it to finish; if pid ${owner} is not a migration, remove ${path}`,
        });
      }
      await Deno.remove(path).catch(() => {});
    }
  }
  throw new MigrationLockedError(`Could not take the lock ${path}`, {
    hint: "another migration raced for it; try again",
  });
}
