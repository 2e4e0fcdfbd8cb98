/** Fake P4Runtime switches (one in-process server per lab switch) for the controller tests. */
import { FakeP4RuntimeServer } from "../fixtures/p4runtime_server.ts";
import { type EntryView, viewEntry } from "../../lib/controller/switch_entries.ts";
import { P4Info } from "../../lib/p4runtime/p4info.ts";
import type { PipelinePaths } from "../../lib/controller/pipeline.ts";

export interface FakeSwitches {
  p4info: P4Info;
  servers: FakeP4RuntimeServer[];
  ports: number[];
  /** Every entry a fake holds, as views sorted for comparison. */
  entries(index: number, switchName: string): EntryView[];
  /** Write RPCs received by all fakes. */
  writeRpcs(): number;
  stop(): Promise<void>;
}

/** Starts `deviceIds.length` fake servers with the pipeline's P4Info. */
export async function startFakes(paths: PipelinePaths, deviceIds: number[]): Promise<FakeSwitches> {
  const p4info = await P4Info.load(paths.p4infoJson);
  const servers: FakeP4RuntimeServer[] = [];
  try {
    for (const id of deviceIds) {
      servers.push(await FakeP4RuntimeServer.start({ p4info, deviceId: BigInt(id) }));
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return {
    p4info,
    servers,
    ports: servers.map((s) => s.port),
    entries: (i, name) =>
      sortViews(
        p4info.tables.all.flatMap((t) =>
          servers[i].entries(t.id).map((e) => viewEntry(p4info, name, e))
        ),
      ),
    writeRpcs: () => servers.reduce((n, s) => n + s.writeRpcs, 0),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** Entries in a stable order, for deepEqual. */
export function sortViews(views: EntryView[]): EntryView[] {
  const key = (v: EntryView) => JSON.stringify([v.switch, v.table, v.match]);
  return [...views].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}
