/**
 * Wrong solution: right plan, but built by changing the state it was given.
 *
 * Fails: free id
 */
import type { LbState } from "../../../../lib/lb/entries.ts";

export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  state.backends.push({ id, host: host.name, ip: host.ip });
  const share = Math.floor(state.slots.length / state.backends.length);
  const held = new Map(state.backends.map((b) => [b.id, 0]));
  for (const s of state.slots) held.set(s, (held.get(s) ?? 0) + 1);
  held.delete(id);
  for (let taken = 0; taken < share; taken++) {
    const [donor] = [...held.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
    state.slots[state.slots.lastIndexOf(donor)] = id;
    held.set(donor, held.get(donor)! - 1);
  }
  return state;
}
