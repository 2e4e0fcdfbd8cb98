/**
 * Wrong solution: ids are kept, but the slot table is dealt again from scratch in blocks, which
 * moves slots between the existing backends.
 *
 * Fails: keeps its size
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  const slots = state.slots.map((_, i) =>
    backends[Math.floor((i * backends.length) / state.slots.length)].id
  );
  return { ...state, backends, slots };
}
