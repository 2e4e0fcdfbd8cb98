/** Shared helpers for the P4Runtime tests: the fixture program's P4Info. */
import { fileURLToPath } from "node:url";
import { P4Info } from "../../lib/p4runtime/p4info.ts";

/** JSON P4Info of tests/fixtures/p4rt_fixture.p4. */
export const FIXTURE_JSON_PATH = fileURLToPath(
  new URL("../fixtures/build/p4rt_fixture.p4info.json", import.meta.url),
);

/** The indexed P4Info of tests/fixtures/p4rt_fixture.p4. */
export function fixtureP4Info(): P4Info {
  return P4Info.parse(Deno.readTextFileSync(FIXTURE_JSON_PATH), FIXTURE_JSON_PATH);
}
