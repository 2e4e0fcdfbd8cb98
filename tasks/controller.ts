/** `controller serve|health|backends|add|remove|migrate|entries <lab>`. */
import { ControllerApi } from "../lib/controller/api_client.ts";
import { startControllerService } from "../lib/controller/http.ts";
import { UserError } from "../lib/errors.ts";
import { loadLab } from "../lib/lab/load.ts";
import { consoleProgress } from "../lib/progress.ts";
import { formatEntries } from "./format.ts";
import type { Command } from "./command.ts";
import { requireAccess } from "../lib/kubernetes/access.ts";
import { followPods } from "../lib/kubernetes/follow.ts";

const USAGE = `Usage: deno task controller <verb> <lab> [args]

The controller owns a lab's switch sessions and load-balancer state and serves a JSON API on
127.0.0.1 (\`lab up\` starts it; its address is in .run/labs/<lab>/controller.json).

Verbs:
  serve <lab> [--port N] [--run-root DIR]
                               Run the controller in the foreground (until Ctrl-C); DIR holds
                               the labs' run directories (default .run/labs)
  health <lab>                 Per switch: connected, primary, entries
  backends <lab>               The VIP's backends
  add <lab> <host>             Add a backend on a host
  remove <lab> <backend>       Remove a backend (host name or id)
  migrate <lab> <backend> <host>  Point a backend at another host (the switch half of a migration)
  entries <lab> [switch]       Table entries read back from the switch(es)`;

async function serve(ref: string, port: number, runRoot?: string): Promise<number> {
  const lab = await loadLab(ref, { runRoot });
  const service = await startControllerService(lab, {
    port,
    progress: consoleProgress(),
    log: (line) => console.error(line),
  });
  console.log(`controller of lab ${lab.name} serving ${service.api.url}`);
  // A Kubernetes lab's backends follow its Ready server pods.
  const following = new AbortController();
  const follower = lab.runtime === "kubernetes"
    ? followPods(lab, service.controller, {
      access: await requireAccess(lab),
      progress: consoleProgress(),
      signal: following.signal,
    })
    : undefined;
  await service.stopped;
  following.abort();
  await follower;
  return 0;
}

export const controller: Command = {
  summary: "Run or query a lab's P4Runtime controller (backends, entries, health)",
  usage: USAGE,
  options: { port: { type: "string" }, json: { type: "boolean" }, "run-root": { type: "string" } },
  async run(values, positionals) {
    const [verb, ref, ...args] = positionals;
    const verbs = ["serve", "health", "backends", "add", "remove", "migrate", "entries"];
    if (!verb || !verbs.includes(verb) || !ref) {
      throw new UserError(`controller: expected a verb and a lab`, {
        hint: `verbs: ${
          verbs.join(", ")
        }; e.g. \`deno task controller backends process-migration\``,
      });
    }
    if (verb === "serve") {
      const port = values.port === undefined ? 0 : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new UserError(`--port "${values.port}" is not a TCP port`, { hint: "give 0..65535" });
      }
      return await serve(
        ref,
        port,
        typeof values["run-root"] === "string" ? values["run-root"] : undefined,
      );
    }
    const api = await ControllerApi.forLab(await loadLab(ref));
    const need = (n: number, what: string) => {
      if (args.length < n) throw new UserError(`controller ${verb}: missing ${what}`);
    };
    let out: unknown;
    switch (verb) {
      case "health":
        out = await api.health();
        break;
      case "backends":
        out = await api.backends();
        break;
      case "add":
        need(1, "<host>");
        out = await api.addBackend(args[0]);
        break;
      case "remove":
        need(1, "<backend>");
        out = await api.removeBackend(args[0]);
        break;
      case "migrate":
        need(2, "<backend> <host>");
        out = await api.migrateBackend(args[0], args[1]);
        break;
      default: {
        const entries = await api.entries(args[0]);
        if (!values.json) {
          console.log(formatEntries(entries));
          return 0;
        }
        out = entries;
      }
    }
    console.log(JSON.stringify(out, null, 2));
    return 0;
  },
};
