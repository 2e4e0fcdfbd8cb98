/**
 * Facts about a CRIU dump directory that migration code needs: which pid it restores to, how
 * its connections were locked and under which run id, and its inet sockets.
 *
 * @module
 */
import { readImage } from "./images.ts";
import type { NetworkLockMethod } from "./commands.ts";
import { decodeMessage, fieldString, fieldUint, findField } from "./protobuf_wire.ts";
import { type InetSocket, inetSockets } from "./sockets.ts";

/** inventory_entry field numbers (images/inventory.proto). */
const INVENTORY = { networkLockMethod: 11, dumpCriuRunId: 13 } as const;
/** pstree_entry.pid (images/pstree.proto). */
const PSTREE_PID = 1;
/** enum NETWORK_LOCK_METHOD in criu/include/cr_options.h. */
const LOCK_METHODS: readonly NetworkLockMethod[] = ["iptables", "nftables", "skip"];

export interface DumpInfo {
  /** Pid of the dumped tree's root; a restore recreates it, so it must be free. */
  rootPid: number;
  /** Every process of the dumped tree, root first (restored with the same pids). */
  pids: number[];
  /** CRIU's run id at dump time (names the nftables lock table). */
  runId?: string;
  /** Lock method recorded at dump time (iptables when absent, as CRIU assumes). */
  networkLock: NetworkLockMethod;
  sockets: InetSocket[];
}

/** Reads pstree.img, inventory.img and files.img of a dump. */
export async function readDumpInfo(imagesDir: string): Promise<DumpInfo> {
  const inventory = await readImage(`${imagesDir}/inventory.img`);
  const inv = inventory.entries[0] ? decodeMessage(inventory.entries[0].payload) : [];
  const lock = fieldUint(findField(inv, INVENTORY.networkLockMethod));
  const pstree = await readImage(`${imagesDir}/pstree.img`);
  const pids = pstree.entries
    .map((e) => fieldUint(findField(decodeMessage(e.payload), PSTREE_PID)) ?? 0)
    .filter((pid) => pid > 0);
  return {
    rootPid: pids[0] ?? 0,
    pids,
    runId: fieldString(findField(inv, INVENTORY.dumpCriuRunId)),
    networkLock: LOCK_METHODS[lock ?? 0] ?? "iptables",
    sockets: inetSockets(await readImage(`${imagesDir}/files.img`)),
  };
}
