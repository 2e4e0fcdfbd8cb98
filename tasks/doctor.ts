/** `doctor`: what this machine can run, and the CRIU self-check used by provisioning. */
import { type Capability, probeCapability } from "../lib/capabilities.ts";
import type { Command } from "./command.ts";

const ALL: Capability[] = ["root", "netns", "criu", "podman", "redis", "bmv2", "p4c", "kubernetes"];

/** Needed only by some labs (the Kubernetes lab): reported, but not a failure. */
const OPTIONAL: ReadonlySet<Capability> = new Set(["kubernetes"]);

export const doctor: Command = {
  summary:
    "Show which capabilities (root, netns, CRIU, Podman, BMv2, p4c, Kubernetes) this machine has",
  usage: `Usage: deno task doctor [--criu-selfcheck]

Lists each capability the labs need and, when one is missing, how to get it.

Options:
  --criu-selfcheck  Also run a real TCP dump/restore round trip with CRIU between two network
                    namespaces (used by lab/provision.sh to accept a CRIU build). Honors $CRIU.`,
  options: { "criu-selfcheck": { type: "boolean" } },
  async run(values) {
    let missing = 0;
    for (const cap of ALL) {
      const reason = probeCapability(cap);
      if (reason && !OPTIONAL.has(cap)) missing++;
      const status = reason ? (OPTIONAL.has(cap) ? "absent " : "missing") : "ok     ";
      console.log(`${status}  ${cap.padEnd(10)} ${reason ?? ""}`);
    }
    if (values["criu-selfcheck"]) {
      const { criuSelfCheck } = await import("../lib/criu/selfcheck.ts");
      const result = await criuSelfCheck({ log: (line) => console.error(`    ${line}`) });
      console.log(
        `ok       CRIU TCP self-check: ${result.rewrittenSockets} sockets moved between ` +
          `namespaces; dump ${result.dumpMs.toFixed(0)} ms, rewrite ${
            result.rewriteMs.toFixed(1)
          } ms, ` +
          `restore ${result.restoreMs.toFixed(0)} ms`,
      );
      return 0;
    }
    return missing ? 1 : 0;
  },
};
