/**
 * Judges the load balancer's entries read back from a switch (exercise 2): whether the VIP, slot,
 * backend and reverse-rewrite tables together make a working load balancer for the expected
 * backends, with the slot layout the exercise asks for (each backend one block of consecutive
 * slots, blocks of equal size, in the lab's order of backends). Any slot count that splits
 * evenly and any backend ids pass. The hints say where to look, not what to write.
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
  if (!entry) {
    const others = own.map((e) => String(e.match.dst_addr)).join(", ");
    return fail(
      `${TABLES.vip} has no entry for ${x.vip}` + (others ? ` (it has: ${others})` : "") +
        `: packets to ${x.vip} are routed like any others, and no route leads there ` +
        "(drops[no_route])",
      "an address becomes a service in the vip table (p4/README.md, Control-plane API)",
    );
  }
  if (entry.action !== ACTIONS.setService) {
    return fail(
      `the VIP entry calls ${entry.action}, which does nothing`,
      "which of the vip table's actions tells the switch the service's port and slot count?",
    );
  }
  if (num(entry.params.service_port) !== x.servicePort) {
    return fail(
      `the VIP entry's service_port is ${entry.params.service_port}, the service listens on ` +
        `${x.servicePort}: every other port of the VIP is dropped (drops[vip_not_service])`,
      "the lab object you receive knows the service's port",
    );
  }
  if (!(num(entry.params.slot_count) >= 1)) {
    return fail(
      "the VIP entry's slot_count is 0: no slot can be chosen",
      "slot_count is the number of slots a new connection's hash is taken modulo",
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
  const none: number[] = [];
  for (let slot = 0; slot < slotCount; slot++) {
    const id = slots.get(slot);
    if (id === undefined) missing.push(slot);
    else if (id === 0) none.push(slot);
    else if (!backendIds.has(id)) dangling.push(`slot ${slot} -> backend ${id}`);
  }
  const beyond = [...slots.keys()].filter((s) => s >= slotCount).sort((a, b) => a - b);
  const unused = beyond.length
    ? `; entries for slot(s) ${beyond.join(", ")} are never used (slot_count is ${slotCount})`
    : "";
  if (missing.length) {
    const shown = missing.slice(0, 8).join(", ") + (missing.length > 8 ? ", ..." : "");
    return fail(
      `${missing.length} of ${slotCount} slots have no entry (slot ${shown}); a new connection ` +
        "hashed there is dropped (drops[no_backend])" + unused,
      `a connection's slot is its hash modulo slot_count: which slot numbers can that give?`,
    );
  }
  if (none.length) {
    return fail(
      `slot(s) ${none.join(", ")} name backend id 0, which the switch reads as "no backend": ` +
        "their connections are dropped (drops[no_backend])",
      "backend ids are bit<8>, and 0 is reserved: p4/lb.p4, where meta.backend_id is tested",
    );
  }
  if (dangling.length) {
    return fail(
      `slots name backend ids that have no ${TABLES.backends} entry: ${
        dangling.slice(0, 4).join(", ")
      }`,
      "a slot names a backend id; the id's address comes from the backends table",
    );
  }
  const layout = judgeLayout(entries, x, slotCount, slots);
  if (layout) return { ...layout, detail: layout.detail + unused };
  const used = new Set(slots.values());
  return pass(
    `${slotCount} slots over backend ids ${[...used].sort((a, b) => a - b).join(", ")}, ` +
      `in blocks of ${slotCount / x.backends.length}`,
  );
}

/**
 * The backend (index into `backends`) that slot `slot` belongs to in the exercise's layout: equal
 * blocks of consecutive slots, in order. Undefined when the slots do not split evenly.
 */
export function blockOwner(slot: number, slotCount: number, backends: number): number | undefined {
  if (backends < 1 || slotCount % backends !== 0) return undefined;
  return Math.floor(slot / (slotCount / backends));
}

/** The exercise's layout: each backend one block of consecutive slots, equal sizes, in order. */
function judgeLayout(
  entries: readonly EntryView[],
  x: LbExpectation,
  slotCount: number,
  slots: Map<number, number>,
): Verdict | undefined {
  const n = x.backends.length;
  if (slotCount % n !== 0) {
    return fail(
      `${slotCount} slots cannot be split into ${n} equal blocks`,
      `choose a slot count that every backend can get the same share of`,
    );
  }
  const ipOf = new Map(
    entries.filter((e) => e.table === TABLES.backends).map((e) => [
      num(e.match.backend_id),
      String(e.params.backend_ip),
    ]),
  );
  const nameOf = (slot: number) =>
    x.backends.find((b) => b.ip === ipOf.get(slots.get(slot)!))?.name ?? "?";
  const owners = Array.from({ length: slotCount }, (_, slot) => nameOf(slot));
  const wrong = owners.flatMap((name, slot) =>
    name === x.backends[blockOwner(slot, slotCount, n)!].name ? [] : [slot]
  );
  if (!wrong.length) return undefined;
  const shown = owners.length <= 16 ? owners.join(" ") : owners.slice(0, 16).join(" ") + " ...";
  const alternating = owners.every((name, i) => i === 0 || name !== owners[i - 1]);
  return fail(
    `slot by slot your table reads: ${shown}` +
      (alternating ? " (alternating)" : "") + `; ${wrong.length} of ${slotCount} slots are ` +
      "not where the exercise puts them",
    alternating
      ? "a client's connections opened together hash to slots with the same lowest bit " +
        "(README.md, step about the slots): alternating slots give them all to one backend"
      : `each backend gets one block of consecutive slots, equal in size, in the order of ` +
        `the lab's backends (${x.backends.map((b) => b.name).join(", ")})`,
  );
}

/** Judges the backend table: each expected backend's address behind some slot-reachable id. */
export function judgeBackends(entries: readonly EntryView[], x: LbExpectation): Verdict {
  const own = entries.filter((e) => e.table === TABLES.backends);
  if (!own.length) {
    return fail(
      `${TABLES.backends} is empty: a chosen backend id has no address to rewrite to ` +
        "(drops[no_backend])",
      "the backends table turns the id a slot chose into the address the packet goes to; " +
        "ids are bit<8>, and 0 means no backend",
    );
  }
  const zero = own.find((e) => num(e.match.backend_id) === 0);
  if (zero) {
    return fail(
      `backend id 0 points at ${zero.params.backend_ip}, but the switch reads id 0 as "no ` +
        'backend": connections whose slot names it are dropped',
      "backend ids are bit<8>, and 0 is reserved",
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
      "a backend's address is its host's address in the lab you receive",
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
      "a backend gets traffic only through an id that some slot names",
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
      "the reply direction has its own table: it recognises a backend by its address and " +
        "service port (p4/README.md, packet walk, step 5)",
    );
  }
  const wrong = own.find((e) => e.params.vip_addr !== x.vip);
  if (wrong) {
    return fail(
      `replies from ${wrong.match.src_addr} are rewritten to ${wrong.params.vip_addr}, not the VIP`,
      "the client only accepts replies from the address it connected to",
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
