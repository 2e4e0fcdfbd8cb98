/** `migrate <lab> <workload> --to <host>`: live migration with a timing report. */
import { UserError } from "../lib/errors.ts";
import { loadLab } from "../lib/lab/load.ts";
import { clientKept, formatVerdict } from "../lib/migrate/client_verdict.ts";
import { migrateWorkload, type MigrationReport } from "../lib/migrate/lab_migration.ts";
import { consoleProgress } from "../lib/progress.ts";
import { formatTable } from "../lib/table.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: deno task migrate <lab> <workload or pod> [--to <host>] [options]

Moves a running server workload of a lab (brought up with \`deno task lab up <lab>\`) to another
host with another IP address, keeping its clients' TCP connections, then prints how long each
phase took and how long the lab's client saw no answers. Exits 2 unless it migrated and the
client's own log shows every connection answering with its counter continuous. If migrate is
killed, \`deno task lab recover <lab>\` finishes or rolls back the migration from its journal.

Options:
  --to <host>       Target host (required, except in a Kubernetes lab: there the first free
                    slot of the workload's pool; the new pod gets that slot's address)
  --pre-dump <n>    criu pre-dump rounds before the final dump (processes with much memory;
                    needs a kernel with soft-dirty tracking, see "criu check --feature
                    mem_dirty_track")
  --lazy            Post-copy, between machines (a lab with machines:): restore the server
                    on the target first and pull its memory after, on demand and in the
                    background (CRIU lazy pages, userfaultfd); returns once every page has
                    arrived. Without it a move between machines is stop-and-copy
  --json            Print the report as JSON
  --run-root <dir>  Directory holding the labs' run directories (default .run/labs); for a
                    lab brought up under another one, as the tests do

Examples:
  deno task migrate process-migration server --to h3
  deno task migrate process-machines server --to h3 --lazy
  deno task migrate kubernetes server`;

/** Formats a report for the terminal. */
export function formatReport(r: MigrationReport): string {
  const lines = [
    `${r.workload} (${r.kind}) ${r.from} ${r.fromIp} -> ${r.to} ${r.toIp}: ${r.outcome}`,
    "",
    formatTable(
      ["phase", "start ms", "ms", "result"],
      r.phases.map((p) => [
        p.phase,
        p.startMs.toFixed(1),
        p.ms.toFixed(1),
        p.ok ? p.note ?? "ok" : `FAILED: ${(p.error ?? "").split("\n")[0]}`,
      ]),
    ),
    "",
    `wall time ${r.wallMs.toFixed(0)} ms; service frozen (dump -> switch updated) ${
      r.frozenMs.toFixed(0)
    } ms`,
  ];
  if (r.downtime) lines.push(formatVerdict(r.downtime));
  if (r.redis) {
    const { before, after, preserved } = r.redis;
    lines.push(
      `redis: uptime ${before.uptimeS} s -> ${after.uptimeS} s, clients ${before.clients} -> ` +
        `${after.clients}, counter ${before.counter} -> ${after.counter}: ` +
        (preserved ? "state and connections preserved" : "NOT preserved"),
    );
  }
  if (r.machines) {
    const pc = r.machines.postCopy;
    lines.push(
      `between machines ${r.machines.from} -> ${r.machines.to}, ${r.machines.mode}` +
        (pc?.ok
          ? `: every page arrived ${pc.allPagesMs.toFixed(0)} ms after the restore began ` +
            `(${pc.pagesTransferred} pages, ${pc.pagesFaulted} faulted)`
          : ""),
    );
  }
  if (r.error) lines.push(`error: ${r.error}`);
  lines.push(`checkpoint and report: ${r.checkpointDir}`);
  return lines.join("\n");
}

export const migrate: Command = {
  summary: "Live-migrate a lab's server workload to another host, keeping its TCP connections",
  usage: USAGE,
  options: {
    to: { type: "string" },
    "pre-dump": { type: "string" },
    lazy: { type: "boolean" },
    json: { type: "boolean" },
    "run-root": { type: "string" },
  },
  async run(values, positionals) {
    const [ref, workload] = positionals;
    const to = typeof values.to === "string" ? values.to : undefined;
    if (!ref || !workload) {
      throw new UserError("migrate needs a lab and a workload", {
        hint: "e.g. `deno task migrate process-migration server --to h3`",
      });
    }
    const preDump = values["pre-dump"] === undefined ? 0 : Number(values["pre-dump"]);
    if (!Number.isInteger(preDump) || preDump < 0 || preDump > 10) {
      throw new UserError(`--pre-dump "${values["pre-dump"]}" is not a number of rounds`, {
        hint: "give a whole number from 0 to 10",
      });
    }
    const runRoot = typeof values["run-root"] === "string" ? values["run-root"] : undefined;
    const lab = await loadLab(ref, { runRoot });
    if (to === undefined && lab.runtime !== "kubernetes") {
      throw new UserError(`migrate ${lab.name}: which host? --to <host> is required`, {
        hint: `e.g. \`deno task migrate ${lab.name} ${workload} --to <host>\``,
      });
    }
    const report = await migrateWorkload(lab, {
      workload,
      to,
      preDumpRounds: preDump,
      lazy: values.lazy === true,
      progress: consoleProgress(),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    // The client's own log decides whether connections were kept (lib/migrate/client_verdict.ts).
    const ok = report.outcome === "migrated" && clientKept(report.downtime) &&
      report.redis?.preserved !== false && report.machines?.postCopy?.ok !== false;
    return ok ? 0 : 2;
  },
};
