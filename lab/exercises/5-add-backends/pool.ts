/**
 * Exercise 5: add a backend to the load balancer without breaking established connections.
 *
 * addBackend() plans the load balancer's state after a new backend joins; the check turns the
 * difference between the old and the new state into table updates (lib/lb/entries.ts:
 * planLbEntries + diffEntries) and writes them to the switch while the client's eight
 * connections are open.
 *
 * The state (LbState in lib/lb/entries.ts) is what the switch's tables hold:
 *   backends: [{ id, host, ip }]  -> LbIngress.backends: backend id -> address
 *   slots:    [id, id, ...]       -> LbIngress.slots: slot i -> backend id (slots.length is the
 *                                    VIP's slot_count; a SYN picks slot hash(5-tuple) % count)
 *
 * The version below is the naive one, the way a stateless load balancer thinks: rebuild the pool
 * from the set of hosts, one slot per backend, `hash % number of backends`. Run the check to see
 * what it does to open connections, read README.md, and fix it.
 */
import type { LbState } from "../../../lib/lb/entries.ts";

/** The state after adding `host` as a backend. Must not modify `state`. */
export function addBackend(state: LbState, host: { name: string; ip: string }): LbState {
  // Every backend's host and address, plus the new one, in a stable order.
  const hosts = [...state.backends.map((b) => ({ name: b.host, ip: b.ip })), host]
    .sort((a, b) => a.name.localeCompare(b.name));
  // Ids by position: 1, 2, 3, ...
  const backends = hosts.map((h, i) => ({ id: i + 1, host: h.name, ip: h.ip }));
  // One slot per backend: a new connection goes to backend hash % n.
  const slots = backends.map((b) => b.id);
  return { ...state, backends, slots };
}
