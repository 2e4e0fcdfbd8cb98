/**
 * The BMv2 switch image for `bmv2-container` switches: built locally FROM scratch out of the
 * machine's `simple_switch_grpc` (the one lib/tools.ts finds: P4CF_BMV2, PATH, /usr/local/…) and
 * its shared libraries (see `host_image.ts`).
 *
 * @module
 */
import { findTool } from "../tools.ts";
import { MissingCapabilityError } from "../errors.ts";
import { type Progress, silentProgress } from "../progress.ts";
import type { Shell } from "../shell.ts";
import { buildHostImage, type HostImageSpec } from "./host_image.ts";

/** Tag of the BMv2 image. */
export const BMV2_IMAGE = "localhost/p4cf-bmv2:latest";

/** The image spec for a `simple_switch_grpc` binary. */
export function bmv2ImageSpec(binary: string): HostImageSpec {
  return {
    tag: BMV2_IMAGE,
    binaries: [binary],
    // nanomsg's notification socket defaults to ipc:///tmp/bmv2-<device>-notifications.ipc.
    dirs: ["/tmp"],
    labels: { "p4cf.image": "bmv2" },
    // A source build of BMv2 carries ~150 MB of debug information the container does not need.
    stripDebug: true,
  };
}

/**
 * Builds the BMv2 image if it is missing or BMv2 was reinstalled since; returns its tag.
 *
 * @throws {MissingCapabilityError} when BMv2 is not installed.
 */
export async function ensureBmv2Image(
  shell: Shell,
  progress: Progress = silentProgress,
): Promise<string> {
  const bmv2 = findTool("bmv2");
  if (bmv2.reason !== undefined) {
    const [problem, hint] = bmv2.reason.split(/; (.*)/s);
    throw new MissingCapabilityError(`Cannot build the BMv2 image: ${problem}`, { hint });
  }
  const real = await Deno.realPath(bmv2.path);
  await buildHostImage(shell, bmv2ImageSpec(real), progress);
  return BMV2_IMAGE;
}
