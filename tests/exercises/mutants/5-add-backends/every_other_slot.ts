/**
 * Wrong solution: the new backend's share is right and only its slots change, but they are taken
 * every other slot (1, 3, 5, ...): a burst of connections from one client never reaches it.
 *
 * Fails: a burst of new connections
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  const share = Math.floor(state.slots.length / backends.length);
  const slots = [...state.slots];
  for (let k = 0, i = 1; k < share && i < slots.length; k++, i += 2) slots[i] = id;
  return { ...state, backends, slots };
}
