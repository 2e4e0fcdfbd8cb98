/**
 * Wrong solution: backend ids 0 and 1; id 0 means "no backend" to the switch.
 *
 * Fails: LbIngress.backends
 */
import type { Lab } from "../../../../lib/lab/types.ts";
import type { P4RuntimeClient } from "../../../../lib/p4runtime/mod.ts";

const SLOT_COUNT = 8;

/** Writes the VIP, slot, backend and reverse-rewrite entries of `lab`'s load balancer. */
export async function programLoadBalancer(sw: P4RuntimeClient, lab: Lab): Promise<void> {
  const lb = lab.loadBalancer;
  const backends = lb.backends.map((name, i) => ({
    id: i,
    ip: lab.hosts.find((h) => h.name === name)!.ip,
  }));

  // Reverse rewrites and backends first: nothing may point at an entry that is not there yet.
  for (const b of backends) {
    await sw.insertEntry({
      table: "LbIngress.backend_sources",
      match: { src_addr: b.ip, src_port: lb.servicePort },
      action: "LbIngress.set_src_to_vip",
      params: { vip_addr: lb.vip },
    });
    await sw.insertEntry({
      table: "LbIngress.backends",
      match: { backend_id: b.id },
      action: "LbIngress.set_backend",
      params: { backend_ip: b.ip },
    });
  }
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    await sw.insertEntry({
      table: "LbIngress.slots",
      match: { slot },
      action: "LbIngress.set_slot_backend",
      params: { backend_id: backends[Math.floor((slot * backends.length) / SLOT_COUNT)].id },
    });
  }
  // The VIP last: from now on new connections find every slot and backend in place.
  await sw.insertEntry({
    table: "LbIngress.vip",
    match: { dst_addr: lb.vip },
    action: "LbIngress.set_service",
    params: { service_port: lb.servicePort, slot_count: SLOT_COUNT },
  });
}
