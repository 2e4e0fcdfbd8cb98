/**
 * The BMv2 switch image for `bmv2-container` switches: built locally FROM scratch out of the
 * machine's `simple_switch_grpc` and its shared libraries (see `host_image.ts`).
 *
 * @module
 */
import { which } from "../capabilities.ts";
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
  const binary = which("simple_switch_grpc");
  if (!binary) {
    throw new MissingCapabilityError(
      "Cannot build the BMv2 image: simple_switch_grpc is not installed",
      {
        hint: "install BMv2 with `sudo P4CF_P4_SOURCE=obs bash lab/provision.sh`",
      },
    );
  }
  const real = await Deno.realPath(binary);
  await buildHostImage(shell, bmv2ImageSpec(real), progress);
  return BMV2_IMAGE;
}
