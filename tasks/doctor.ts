/** `doctor`: what this machine can run, its tools' versions and paths, and the CRIU self-check. */
import { type Capability, probeCapability } from "../lib/capabilities.ts";
import { formatTable } from "../lib/table.ts";
import { findTool, type ToolName, TOOLS, toolVersion, versionNumber } from "../lib/tools.ts";
import type { Command } from "./command.ts";

/** What `deno task demo` needs: doctor fails (exit 1) when one of these is missing. */
export const DEMO_NEEDS: readonly Capability[] = ["root", "netns", "criu", "podman", "bmv2"];

/** Needed only for some things; reported, never a failure. */
const OPTIONAL: Readonly<Partial<Record<Capability, string>>> = {
  p4c: "only to recompile p4/lb.p4",
  redis: "only for the redis lab",
  kubernetes: "only for the kubernetes lab",
};

const ALL: readonly Capability[] = [...DEMO_NEEDS, "p4c", "redis", "kubernetes"];

/** The tools listed with version and path, in this order. */
const SHOWN_TOOLS: readonly ToolName[] = [
  "criu",
  "podman",
  "runc",
  "bmv2",
  "p4c",
  "p4c-bm2-ss",
  "redis-server",
  "ip",
  "nsenter",
];

export const doctor: Command = {
  summary:
    "Show what this machine has (capabilities, tools' versions and paths) and what is missing",
  usage: `Usage: deno task doctor [--criu-selfcheck]

Lists each capability the labs need and, when one is missing, how to get it; then each tool with
its version and where it was found. Exits 1 when something the demo needs is missing (root,
network namespaces, CRIU, Podman, BMv2), also with --criu-selfcheck.

Tools are looked for in their explicit setting first, then on PATH, then in /usr/local/sbin,
/usr/local/bin, /usr/sbin, /usr/bin, /sbin and /bin:
  P4CF_BMV2=/path/to/simple_switch_grpc   BMv2 (or a directory holding it, or its bin/)
  P4CF_P4C=/path/to/p4c                   p4c; its p4c-bm2-ss is looked for next to it
  CRIU=/path/to/criu                      CRIU

Options:
  --criu-selfcheck  Also run a real TCP dump/restore round trip with CRIU between two network
                    namespaces (lab/provision.sh runs it to accept a CRIU build).`,
  options: { "criu-selfcheck": { type: "boolean" } },
  async run(values) {
    let missing = 0;
    for (const cap of ALL) {
      const reason = probeCapability(cap);
      const optional = OPTIONAL[cap];
      if (reason && !optional) missing++;
      const status = reason ? (optional ? "absent " : "missing") : "ok     ";
      const why = reason && optional ? `${reason} (${optional})` : reason ?? "";
      console.log(`${status}  ${cap.padEnd(10)} ${why}`.trimEnd());
    }
    console.log(`\n${await toolsTable()}`);
    if (values["criu-selfcheck"]) {
      const { criuSelfCheck } = await import("../lib/criu/selfcheck.ts");
      console.log("");
      const result = await criuSelfCheck({ log: (line) => console.error(`    ${line}`) });
      console.log(
        `ok       CRIU TCP self-check: ${result.rewrittenSockets} sockets moved between ` +
          `namespaces; dump ${result.dumpMs.toFixed(0)} ms, rewrite ${
            result.rewriteMs.toFixed(1)
          } ms, restore ${result.restoreMs.toFixed(0)} ms`,
      );
    }
    if (missing) {
      console.log(
        `\n${missing} of what the demo needs is missing; each line above says how to get it.`,
      );
    }
    return missing ? 1 : 0;
  },
};

/** The tools with version and path (`-` and the reason when missing). */
async function toolsTable(): Promise<string> {
  const rows = await Promise.all(SHOWN_TOOLS.map(async (tool) => {
    const found = findTool(tool);
    if (found.reason !== undefined) {
      return [TOOLS[tool].program, "-", `missing: ${found.reason.split("; ")[0]}`];
    }
    const line = await toolVersion(found.path, { args: TOOLS[tool].versionArgs });
    const version = line === undefined ? "?" : versionNumber(line);
    const where = found.source === "PATH" ? "" : ` (${found.source})`;
    return [TOOLS[tool].program, version, `${found.path}${where}`];
  }));
  return formatTable(["tool", "version", "path"], rows);
}
