/**
 * Wrong solution: the new backend's id is "one more than the number of backends", which is taken
 * when ids have a gap (1, 2, 4 -> 4); otherwise as the reference solution.
 *
 * Fails: free id
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const id = state.backends.length + 1;
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  const slots = [...state.slots];
  const share = Math.floor(slots.length / backends.length);
  const held = new Map(state.backends.map((b) => [b.id, 0]));
  for (const s of slots) if (held.has(s)) held.set(s, held.get(s)! + 1);
  for (let taken = 0; taken < share; taken++) {
    const [donor] = [...held.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
    slots[slots.lastIndexOf(donor)] = id;
    held.set(donor, held.get(donor)! - 1);
  }
  return { ...state, backends, slots };
}
