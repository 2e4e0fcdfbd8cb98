// The starter names what you will need before you use it:
// deno-lint-ignore-file no-unused-vars
/**
 * Exercise 2: program the load balancer over P4Runtime.
 *
 * The check (`sudo deno task lab check 2`) brings up lab.yaml, stops its controller and deletes
 * the load balancer's entries (routes and port MACs stay), then connects to the switch as the
 * primary controller and calls programLoadBalancer() with that session. Write the entries that
 * make the VIP serve new connections from every backend of the lab, with the slot layout that
 * README.md asks for. p4/README.md names the tables, their keys and their actions.
 */
import type { Lab } from "../../../lib/lab/types.ts";
import type { P4RuntimeClient } from "../../../lib/p4runtime/mod.ts";

/** How many slots the slot table gets. */
const SLOT_COUNT = 8;

/** Writes the load balancer's entries for `lab` through `sw`. */
export async function programLoadBalancer(sw: P4RuntimeClient, lab: Lab): Promise<void> {
  // TODO 1: the service: the switch must know that the VIP is one, on which port, and over how
  //         many slots new connections are spread.
  // TODO 2: the backends: what each backend id stands for.
  // TODO 3: the slots: which backend id each slot names (README.md: the layout, and why).
  // TODO 4: the way back: replies must reach the client from the address it connected to.
  //
  // A slot that names an id with no address yet drops the connections hashed to it; in which
  // order do the entries go in, then?
}
