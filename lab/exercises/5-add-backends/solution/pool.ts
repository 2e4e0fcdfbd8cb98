/**
 * Exercise 5, reference solution: existing backends keep their ids (the switch remembers each
 * connection's backend id), the slot table keeps its size, and the new backend takes its share
 * of slots one by one from whichever backend holds the most.
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

/** The state after adding `host` as a backend. Does not modify `state`. */
export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  if (state.backends.length === 0) return { ...state, backends, slots: state.slots.map(() => id) };

  const slots = [...state.slots];
  const share = Math.floor(slots.length / backends.length);
  const held = new Map(state.backends.map((b) => [b.id, 0]));
  for (const s of slots) if (held.has(s)) held.set(s, held.get(s)! + 1);
  for (let taken = 0; taken < share; taken++) {
    // The backend holding the most slots (lowest id on a tie) gives up its last one.
    const [donor] = [...held.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
    slots[slots.lastIndexOf(donor)] = id;
    held.set(donor, held.get(donor)! - 1);
  }
  return { ...state, backends, slots };
}
