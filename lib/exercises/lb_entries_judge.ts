/**
 * Judges the load balancer's entries read back from a switch (exercise 2): whether the VIP, slot,
 * backend and reverse-rewrite tables together make a working load balancer for the expected
 * backends. Checks meaning, not one exact layout: any slot count, any backend ids, any order.
 *
 * @module
 */
import type { EntryView } from "../controller/switch_entries.ts";
import { ACTIONS, TABLES } from "../p4/lb_program.ts";
import { fail, pass, type Verdict } from "./grading.ts";

/** What a correct load balancer serves. */
export interface LbExpectation {
  vip: string;
  servicePort: number;
  /** The backends' hosts and addresses. */
  backends: readonly { name: string; ip: string }[];
}

/** One judged aspect: a criterion title and its verdict. */
export interface Judged {
  title: string;
  verdict: Verdict;
}

/** The ids the slots point at, by slot; empty when the VIP entry is missing. */
interface SlotPicture {
  slotCount: number;
  slots: Map<number, number>;
}

const num = (v: string | number | undefined) => typeof v === "number" ? v : Number(v);

function slotPicture(entries: readonly EntryView[], vip: string): SlotPicture {
  const vipEntry = entries.find((e) => e.table === TABLES.vip && e.match.dst_addr === vip);
  const slots = new Map<number, number>();
  for (const e of entries.filter((e) => e.table === TABLES.slots)) {
    if (e.action === ACTIONS.setSlotBackend) slots.set(num(e.match.slot), num(e.params.backend_id));
  }
  return { slotCount: vipEntry ? num(vipEntry.params.slot_count) : 0, slots };
}

/** Judges the VIP entry. */
export function judgeVip(entries: readonly EntryView[], x: LbExpectation): Verdict {
  const own = entries.filter((e) => e.table === TABLES.vip);
  const entry = own.find((e) => e.match.dst_addr === x.vip);
  const insert = `insert ${TABLES.vip} { dst_addr: "${x.vip}" } -> ${ACTIONS.setService}` +
    `(service_port: ${x.servicePort}, slot_count: <number of slots>)`;
  if (!entry) {
    const others = own.map((e) => String(e.match.dst_addr)).join(", ");
    return fail(
      `${TABLES.vip} has no entry for ${x.vip}` + (others ? ` (it has: ${others})` : ""),
      insert,
    );
  }
  if (entry.action !== ACTIONS.setService) {
    return fail(`the VIP entry calls ${entry.action}`, `use ${ACTIONS.setService}`);
  }
  if (num(entry.params.service_port) !== x.servicePort) {
    return fail(
      `the VIP entry's service_port is ${entry.params.service_port}, the service listens on ` +
        `${x.servicePort}`,
      "use lab.loadBalancer.servicePort",
    );
  }
  if (!(num(entry.params.slot_count) >= 1)) {
    return fail(
      "the VIP entry's slot_count is 0: no slot can be chosen",
      "set slot_count to the number of slot entries you write (e.g. 8)",
    );
  }
  return pass(`${x.vip}:${x.servicePort} with ${entry.params.slot_count} slots`);
}

/** Judges the slot table against the VIP's slot count and the backend entries. */
export function judgeSlots(entries: readonly EntryView[], x: LbExpectation): Verdict {
  const { slotCount, slots } = slotPicture(entries, x.vip);
  if (slotCount === 0) {
    return fail(
      "cannot judge the slots without the VIP entry (its slot_count)",
      "fix the VIP first",
    );
  }
  const backendIds = new Set(
    entries.filter((e) => e.table === TABLES.backends).map((e) => num(e.match.backend_id)),
  );
  const missing: number[] = [];
  const dangling: string[] = [];
  for (let slot = 0; slot < slotCount; slot++) {
    const id = slots.get(slot);
    if (id === undefined) missing.push(slot);
    else if (!backendIds.has(id)) dangling.push(`slot ${slot} -> backend ${id}`);
  }
  if (missing.length) {
    const shown = missing.slice(0, 8).join(", ") + (missing.length > 8 ? ", ..." : "");
    return fail(
      `${missing.length} of ${slotCount} slots have no entry (slot ${shown}); a new connection ` +
        `hashed there is dropped`,
      `insert ${TABLES.slots} { slot: i } -> ${ACTIONS.setSlotBackend}(backend_id) for every ` +
        `i in 0..${slotCount - 1}`,
    );
  }
  if (dangling.length) {
    return fail(
      `slots name backend ids that have no ${TABLES.backends} entry: ${
        dangling.slice(0, 4).join(", ")
      }`,
      "every backend_id a slot uses needs a backends entry",
    );
  }
  const used = new Set(slots.values());
  return pass(`${slotCount} slots over backend ids ${[...used].sort((a, b) => a - b).join(", ")}`);
}

/** Judges the backend table: each expected backend's address behind some slot-reachable id. */
export function judgeBackends(entries: readonly EntryView[], x: LbExpectation): Verdict {
  const own = entries.filter((e) => e.table === TABLES.backends);
  if (!own.length) {
    return fail(
      `${TABLES.backends} is empty: a chosen backend id has no address to rewrite to`,
      `insert ${TABLES.backends} { backend_id: n } -> ${ACTIONS.setBackend}(backend_ip) for each ` +
        "backend (ids 1..255)",
    );
  }
  const { slots } = slotPicture(entries, x.vip);
  const used = new Set(slots.values());
  const wanted = new Set(x.backends.map((b) => b.ip));
  const strangers = own.filter((e) => !wanted.has(String(e.params.backend_ip)));
  if (strangers.length) {
    return fail(
      `backend ${strangers[0].match.backend_id} points at ${strangers[0].params.backend_ip}, ` +
        `which serves nothing (backends are ${
          x.backends.map((b) => `${b.name} ${b.ip}`).join(", ")
        })`,
      "use the backends' host addresses (lab.hosts[...].ip)",
    );
  }
  const unreached = x.backends.filter((b) =>
    !own.some((e) =>
      e.params.backend_ip === b.ip && (used.size === 0 || used.has(num(e.match.backend_id)))
    )
  );
  if (unreached.length) {
    return fail(
      `no slot leads to ${unreached.map((b) => `${b.name} (${b.ip})`).join(", ")}`,
      "give every backend an id with a backends entry, and point some slots at each id",
    );
  }
  return pass(
    own.map((e) => `${e.match.backend_id} -> ${e.params.backend_ip}`).join(", "),
  );
}

/** Judges the reverse rewrites: replies from each backend's service port appear to come from the VIP. */
export function judgeBackendSources(entries: readonly EntryView[], x: LbExpectation): Verdict {
  const own = entries.filter((e) => e.table === TABLES.backendSources);
  const missing = x.backends.filter((b) =>
    !own.some((e) => e.match.src_addr === b.ip && num(e.match.src_port) === x.servicePort)
  );
  if (missing.length) {
    return fail(
      `replies from ${missing.map((b) => `${b.ip}:${x.servicePort}`).join(", ")} keep their ` +
        "source address, so the client (which talks to the VIP) resets the connection",
      `insert ${TABLES.backendSources} { src_addr: <backend ip>, src_port: ${x.servicePort} } -> ` +
        `${ACTIONS.setSrcToVip}(vip_addr: "${x.vip}") for each backend`,
    );
  }
  const wrong = own.find((e) => e.params.vip_addr !== x.vip);
  if (wrong) {
    return fail(
      `replies from ${wrong.match.src_addr} are rewritten to ${wrong.params.vip_addr}, not the VIP`,
      `vip_addr must be ${x.vip}`,
    );
  }
  return pass(`${own.length} reverse rewrite(s) to ${x.vip}`);
}

/** All four aspects, in the order the packets need them. */
export function judgeLbEntries(entries: readonly EntryView[], x: LbExpectation): Judged[] {
  return [
    { title: `${TABLES.vip}: the VIP and its service port`, verdict: judgeVip(entries, x) },
    { title: `${TABLES.slots}: every slot names a backend`, verdict: judgeSlots(entries, x) },
    {
      title: `${TABLES.backends}: backend ids lead to ${
        x.backends.map((b) => b.name).join(" and ")
      }`,
      verdict: judgeBackends(entries, x),
    },
    {
      title: `${TABLES.backendSources}: replies come back from the VIP`,
      verdict: judgeBackendSources(entries, x),
    },
  ];
}
