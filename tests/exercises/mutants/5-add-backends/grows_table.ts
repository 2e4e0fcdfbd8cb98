/**
 * Wrong solution: existing slots stay, and the new backend gets new slots appended.
 *
 * Fails: keeps its size
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  const extra = Math.ceil(state.slots.length / state.backends.length);
  return { ...state, backends, slots: [...state.slots, ...Array(extra).fill(id)] };
}
