/**
 * Wrong solution: the new backend gets a single slot, the last one.
 *
 * Fails: fair share
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  const slots = [...state.slots];
  slots[slots.length - 1] = id;
  return { ...state, backends: [...state.backends, { id, host: host.name, ip: host.ip }], slots };
}
