/**
 * The compiled load-balancer pipeline as the controller pushes it: the P4Info (indexed, and as
 * binary for SetForwardingPipelineConfig), the BMv2 JSON, and a cookie identifying this exact
 * build, so a restarted controller can tell whether the switch already runs it.
 *
 * @module
 */
import { repoRoot } from "../lab/paths.ts";
import { UserError } from "../errors.ts";
import { LB_PROGRAM } from "../p4/lb_program.ts";
import { P4Info } from "../p4runtime/p4info.ts";

/** Where the compiled pipeline's files are. */
export interface PipelinePaths {
  /** P4Info as protobuf JSON (indexed for names). */
  p4infoJson: string;
  /** P4Info as binary protobuf (sent to the switch). */
  p4infoBinary: string;
  /** BMv2 JSON (the device config). */
  bmv2Json: string;
}

/** A loaded pipeline. */
export interface Pipeline {
  paths: PipelinePaths;
  p4info: P4Info;
  p4infoBinary: Uint8Array;
  bmv2Json: Uint8Array;
  /** First 64 bits of SHA-256 over both files: equal cookies mean the same build. */
  cookie: bigint;
}

/** The committed build of `p4/lb.p4` (`p4/build/`), or the same names under `buildDir`. */
export function defaultPipelinePaths(buildDir?: string): PipelinePaths {
  const dir = buildDir ?? `${repoRoot()}/${LB_PROGRAM.buildDir}`;
  const name = (path: string) => `${dir}/${path.slice(path.lastIndexOf("/") + 1)}`;
  return {
    p4infoJson: name(LB_PROGRAM.p4infoJson),
    p4infoBinary: name(LB_PROGRAM.p4infoBinary),
    bmv2Json: name(LB_PROGRAM.bmv2Json),
  };
}

async function readPipelineFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    throw new UserError(`Cannot read the compiled P4 pipeline file ${path}`, {
      hint: "compile p4/lb.p4 with `deno task build`",
      cause: err,
    });
  }
}

/** Reads and indexes the pipeline files; throws a UserError naming a missing file. */
export async function loadPipeline(
  paths: PipelinePaths = defaultPipelinePaths(),
): Promise<Pipeline> {
  const [json, p4infoBinary, bmv2Json] = await Promise.all([
    readPipelineFile(paths.p4infoJson),
    readPipelineFile(paths.p4infoBinary),
    readPipelineFile(paths.bmv2Json),
  ]);
  const p4info = P4Info.parse(new TextDecoder().decode(json), paths.p4infoJson);
  const both = new Uint8Array(p4infoBinary.length + bmv2Json.length);
  both.set(p4infoBinary);
  both.set(bmv2Json, p4infoBinary.length);
  const digest = new DataView(await crypto.subtle.digest("SHA-256", both));
  return { paths, p4info, p4infoBinary, bmv2Json, cookie: digest.getBigUint64(0) };
}
