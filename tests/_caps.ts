/**
 * Test tiers. A test that needs root, network namespaces, CRIU, Podman, BMv2 or p4c declares it;
 * when something is missing the test is ignored and the reason is printed, so a skipped tier is
 * never silent.
 *
 * ```ts
 * capTest({ name: "dump and restore", needs: ["netns", "criu"], fn: async () => {} });
 * ```
 */
import { type Capability, probeCapability } from "../lib/capabilities.ts";

const cache = new Map<Capability, string | undefined>();

/** Reasons why the capabilities are missing (empty when all are present). */
export function missing(caps: readonly Capability[]): string[] {
  const reasons: string[] = [];
  for (const cap of caps) {
    if (!cache.has(cap)) cache.set(cap, probeCapability(cap));
    const reason = cache.get(cap);
    if (reason) reasons.push(reason);
  }
  return reasons;
}

/** Deno.test that runs only when `needs` are all present, else is ignored with a printed reason. */
export function capTest(
  def: Omit<Deno.TestDefinition, "ignore"> & { needs: readonly Capability[] },
): void {
  const { needs, ...rest } = def;
  const reasons = missing(needs);
  if (reasons.length) console.log(`SKIP ${def.name}: ${reasons.join("; ")}`);
  Deno.test({ ...rest, ignore: reasons.length > 0 });
}
