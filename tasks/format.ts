/** Terminal views shared by several verbs. */
import type { EntryView } from "../lib/controller/switch_entries.ts";
import { formatTable } from "../lib/table.ts";

/** Table entries as read back from switches, one line each. */
export function formatEntries(entries: readonly EntryView[]): string {
  const kv = (o: Record<string, string | number>, sep: string) =>
    Object.entries(o).map(([k, v]) => `${k}=${v}`).join(sep);
  return formatTable(
    ["switch", "table", "match", "action"],
    entries.map((e) => [e.switch, e.table, kv(e.match, " "), `${e.action}(${kv(e.params, ", ")})`]),
  );
}
