/** Paths of the real CRIU images under tests/fixtures/criu (see its README). */

export const FIXTURES = new URL("../fixtures/criu/", import.meta.url).pathname;
export const DUMP1 = `${FIXTURES}dump1`;
export const DUMP1_REWRITTEN_FILES = `${FIXTURES}dump1-files-rewritten.img`;
/** The dumped server's address and the address it was rewritten to. */
export const DUMP1_SOURCE_IP = "10.99.2.2";
export const DUMP1_TARGET_IP = "10.99.3.2";
export const DUMP1_CLIENT_IP = "10.99.1.2";

/** Every image file of dump1, by name. */
export function dump1Images(): string[] {
  return [...Deno.readDirSync(DUMP1)].map((e) => e.name).sort();
}

/** A temporary copy of dump1 (caller removes it). */
export async function copyDump1(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "p4t-dump1-" });
  for (const name of dump1Images()) await Deno.copyFile(`${DUMP1}/${name}`, `${dir}/${name}`);
  return dir;
}
