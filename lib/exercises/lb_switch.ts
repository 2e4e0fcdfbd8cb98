/**
 * Direct P4Runtime access to a lab's load-balancer switch for checks that run with the controller
 * stopped: connect as primary, read entries back as views, delete the load balancer's entries
 * (leaving routes and port MACs), read the counters.
 *
 * @module
 */
import { switchFiles } from "../bmv2/switch.ts";
import { loadPipeline } from "../controller/pipeline.ts";
import { type EntryView, viewEntry } from "../controller/switch_entries.ts";
import type { Lab, Switch } from "../lab/types.ts";
import { COUNTERS, DROP_REASONS, TABLES } from "../p4/lb_program.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import { type Update, UpdateType } from "../p4runtime/messages.ts";

/** The tables that make the load balancer (everything but routes and port MACs). */
export const LB_TABLES: readonly string[] = [
  TABLES.vip,
  TABLES.slots,
  TABLES.backends,
  TABLES.backendSources,
];

/** The lab's load-balancer switch. */
export function lbSwitch(lab: Lab): Switch {
  const sw = lab.switches.find((s) => s.name === lab.loadBalancer.switch);
  if (!sw) throw new Error(`Lab ${lab.name} has no switch ${lab.loadBalancer.switch}`);
  return sw;
}

let lastElection = 0n;

/**
 * Connects to the load-balancer switch as primary, with the lb.p4 P4Info for names. Each session
 * gets a higher election id than the last, so it wins even if the switch has not yet noticed
 * that the previous one closed.
 */
export async function connectLbSwitch(lab: Lab): Promise<P4RuntimeClient> {
  const now = BigInt(Date.now());
  lastElection = now > lastElection ? now : lastElection + 1n;
  const sw = lbSwitch(lab);
  const { p4info } = await loadPipeline();
  return await P4RuntimeClient.connect({
    address: `127.0.0.1:${sw.grpcPort}`,
    deviceId: sw.deviceId,
    p4info,
    electionId: lastElection,
    connectTimeoutMs: 5000,
    rpcTimeoutMs: 10_000,
    switchLog: lab.runDir ? switchFiles(sw, lab.runDir).output : undefined,
  });
}

/** Every entry of the switch (optionally only of `tables`), as JSON-friendly views. */
export async function readEntryViews(
  client: P4RuntimeClient,
  switchName: string,
  tables?: readonly string[],
): Promise<EntryView[]> {
  const p4info = client.p4info!;
  const views: EntryView[] = [];
  for await (const e of client.read([{ table_entry: { table_id: 0 } }])) {
    if (!e.table_entry) continue;
    const view = viewEntry(p4info, switchName, e.table_entry);
    if (!tables || tables.includes(view.table)) views.push(view);
  }
  return views;
}

/** Deletes every entry of the load-balancer tables; returns how many there were. */
export async function deleteLbEntries(client: P4RuntimeClient): Promise<number> {
  const p4info = client.p4info!;
  const ids = new Set(LB_TABLES.map((t) => p4info.table(t).id));
  const updates: Update[] = [];
  for await (const e of client.read([{ table_entry: { table_id: 0 } }])) {
    const te = e.table_entry;
    if (!te || !ids.has(te.table_id)) continue;
    updates.push({
      type: UpdateType.DELETE,
      entity: { table_entry: { table_id: te.table_id, match: te.match, priority: te.priority } },
    });
  }
  // Slots before backends, so no slot ever names a missing backend.
  const order = (u: Update) =>
    -LB_TABLES.indexOf(p4info.tables.byId(u.entity.table_entry!.table_id)!.name);
  updates.sort((a, b) => order(a) - order(b));
  if (updates.length) await client.write(updates);
  return updates.length;
}

/** Packets counted per backend id (`backend_packets`), for the ids given. */
export async function backendPackets(
  client: P4RuntimeClient,
  ids: readonly number[],
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const id of ids) {
    const [cell] = await client.readCounter(COUNTERS.backendPackets, id);
    out.set(id, Number(cell?.packets ?? 0n));
  }
  return out;
}

/** The `drops` counter by reason, leaving out zeros: `no_route 12, no_backend 3`. */
export async function describeDrops(client: P4RuntimeClient): Promise<string> {
  const cells = await client.readCounter(COUNTERS.drops);
  const names = Object.entries(DROP_REASONS);
  const parts = cells.filter((c) => c.packets > 0n).map((c) => {
    const camel = names.find(([, i]) => i === c.index)?.[0];
    // As p4/README.md writes them: drops[no_backend].
    const name = camel ? camel.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`) : `#${c.index}`;
    return `${name} ${c.packets}`;
  });
  return parts.length ? parts.join(", ") : "none";
}
