// The starter declares what you will need before you use it:
// deno-lint-ignore-file no-unused-vars
/**
 * Exercise 2: program the load balancer over P4Runtime.
 *
 * The check (`deno task lab check 2`) brings up lab.yaml, stops its controller and deletes the
 * load balancer's entries; routes and port MACs stay. Then it connects to the switch as the
 * primary controller and calls programLoadBalancer() with that session. Write the entries that
 * make the VIP work again; the table and action names are in p4/README.md ("Control-plane API").
 *
 * One insert looks like this (names as in the P4Info; values as numbers or address text):
 *
 *   await sw.insertEntry({
 *     table: "LbIngress.routes",
 *     match: { dst_addr: { value: "10.0.2.2", prefixLen: 32 } },
 *     action: "LbIngress.forward",
 *     params: { port: 2, dst_mac: "02:00:0a:00:02:02" },
 *   });
 */
import type { Lab } from "../../../lib/lab/types.ts";
import type { P4RuntimeClient } from "../../../lib/p4runtime/mod.ts";

/** How many slots the slot table gets: a new connection picks hash(5-tuple) % SLOT_COUNT. */
const SLOT_COUNT = 8;

/** Writes the VIP, slot, backend and reverse-rewrite entries of `lab`'s load balancer. */
export async function programLoadBalancer(sw: P4RuntimeClient, lab: Lab): Promise<void> {
  const lb = lab.loadBalancer;
  // The backends in slot order, with their addresses: [{ name: "h2", ip: "10.0.2.2" }, ...].
  const backends = lb.backends.map((name) => lab.hosts.find((h) => h.name === name)!);

  // The routes are already there (a /32 per host). Reading a table returns decoded entries:
  // { table, match: { dst_addr: { kind: "lpm", value, prefixLen } }, action, params }.
  const routes = await sw.readTable("LbIngress.routes");
  if (routes.length < lab.hosts.length) throw new Error("the switch has no routes: is the lab up?");

  // TODO 1 (LbIngress.vip): packets to lb.vip are for the service. Match dst_addr = lb.vip;
  // action LbIngress.set_service with service_port = lb.servicePort and slot_count = SLOT_COUNT.

  // TODO 2 (LbIngress.backends): give every backend an id (1, 2, ...). Match backend_id = id;
  // action LbIngress.set_backend with backend_ip = the backend's address.

  // TODO 3 (LbIngress.slots): every slot 0 .. SLOT_COUNT - 1 names a backend id. Match slot;
  // action LbIngress.set_slot_backend with backend_id. Spread the slots over all backends in
  // contiguous blocks (slots 0-3 -> 1, 4-7 -> 2): README.md says why not alternately.

  // TODO 4 (LbIngress.backend_sources): replies leave a backend from (its ip, the service port);
  // the client expects them from the VIP. Match src_addr = the backend's ip and src_port =
  // lb.servicePort; action LbIngress.set_src_to_vip with vip_addr = lb.vip.

  // Order matters a little: a slot that names a backend id without a backends entry drops new
  // connections (no_backend), so write the backends before the slots.
}
