import assert from "node:assert/strict";
import type { EntryView } from "../../lib/controller/switch_entries.ts";
import {
  blockOwner,
  judgeLbEntries,
  type LbExpectation,
} from "../../lib/exercises/lb_entries_judge.ts";

const X: LbExpectation = {
  vip: "10.0.0.100",
  servicePort: 12345,
  backends: [{ name: "h2", ip: "10.0.2.2" }, { name: "h3", ip: "10.0.3.3" }],
};

function view(
  table: string,
  match: EntryView["match"],
  action: string,
  params: EntryView["params"],
) {
  return {
    switch: "s1",
    table: `LbIngress.${table}`,
    match,
    action: `LbIngress.${action}`,
    params,
  };
}

function complete(slotCount = 4): EntryView[] {
  return [
    view("vip", { dst_addr: X.vip }, "set_service", { service_port: 12345, slot_count: slotCount }),
    ...Array.from(
      { length: slotCount },
      (_, slot) =>
        view("slots", { slot }, "set_slot_backend", { backend_id: slot < slotCount / 2 ? 1 : 2 }),
    ),
    view("backends", { backend_id: 1 }, "set_backend", { backend_ip: "10.0.2.2" }),
    view("backends", { backend_id: 2 }, "set_backend", { backend_ip: "10.0.3.3" }),
    ...X.backends.map((b) =>
      view("backend_sources", { src_addr: b.ip, src_port: 12345 }, "set_src_to_vip", {
        vip_addr: X.vip,
      })
    ),
  ];
}

const oks = (entries: EntryView[]) => judgeLbEntries(entries, X).map((j) => j.verdict.ok);

Deno.test("a complete load balancer passes, whatever its slot count and ids", () => {
  const judged = judgeLbEntries(complete(), X);
  assert.deepEqual(judged.map((j) => j.verdict.ok), [true, true, true, true]);
  assert.equal(judged[0].verdict.detail, "10.0.0.100:12345 with 4 slots");
  assert.equal(judged[1].verdict.detail, "4 slots over backend ids 1, 2, in blocks of 2");
  assert.deepEqual(oks(complete(16)), [true, true, true, true]);
  // Other ids (7 and 9) are as good.
  const renumbered = complete().map((e) => {
    const re = (id: string | number) => (Number(id) === 1 ? 7 : 9);
    if (e.table === "LbIngress.slots") {
      return { ...e, params: { backend_id: re(e.params.backend_id) } };
    }
    if (e.table === "LbIngress.backends") {
      return { ...e, match: { backend_id: re(e.match.backend_id) } };
    }
    return e;
  });
  assert.deepEqual(oks(renumbered), [true, true, true, true]);
});

Deno.test("nothing written: every table fails, and the hints say where to look, not what to write", () => {
  const judged = judgeLbEntries([], X);
  assert.deepEqual(judged.map((j) => j.verdict.ok), [false, false, false, false]);
  assert.match(judged[0].verdict.detail!, /no entry for 10\.0\.0\.100.*drops\[no_route\]/);
  assert.match(judged[0].verdict.hint!, /p4\/README\.md/);
  assert.match(judged[3].verdict.detail!, /10\.0\.2\.2:12345, 10\.0\.3\.3:12345 keep their source/);
  for (const j of judged) {
    assert.doesNotMatch(
      j.verdict.hint ?? "",
      /insert|set_service\(|set_slot_backend\(|\{ dst_addr/,
    );
  }
});

Deno.test("the slot layout: one block per backend, equal, in the lab's order", () => {
  const slotsAs = (ids: number[]) =>
    complete(ids.length).map((e) =>
      e.table === "LbIngress.slots"
        ? { ...e, params: { backend_id: ids[Number(e.match.slot)] } }
        : e
    );
  assert.deepEqual(oks(slotsAs([1, 1, 1, 1, 2, 2, 2, 2])), [true, true, true, true]);
  const alternating = judgeLbEntries(slotsAs([1, 2, 1, 2, 1, 2, 1, 2]), X)[1].verdict;
  assert.equal(alternating.ok, false);
  assert.match(alternating.detail!, /h2 h3 h2 h3 h2 h3 h2 h3 \(alternating\)/);
  assert.match(alternating.hint!, /same lowest bit/);
  const reversed = judgeLbEntries(slotsAs([2, 2, 1, 1]), X)[1].verdict;
  assert.match(reversed.detail!, /h3 h3 h2 h2; 4 of 4 slots/);
  assert.match(reversed.hint!, /in the order of the lab's backends \(h2, h3\)/);
  const odd = judgeLbEntries(slotsAs([1, 1, 2]), X)[1].verdict;
  assert.match(odd.detail!, /3 slots cannot be split into 2 equal blocks/);
  assert.equal(blockOwner(5, 8, 2), 1);
  assert.equal(blockOwner(3, 8, 2), 0);
  assert.equal(blockOwner(0, 3, 2), undefined);
});

Deno.test("backend id 0 means no backend", () => {
  const zero = complete().map((e) => {
    if (e.table === "LbIngress.slots") {
      return { ...e, params: { backend_id: Number(e.params.backend_id) - 1 } };
    }
    if (e.table === "LbIngress.backends") {
      return { ...e, match: { backend_id: Number(e.match.backend_id) - 1 } };
    }
    return e;
  });
  const judged = judgeLbEntries(zero, X);
  assert.match(
    judged[1].verdict.detail!,
    /name backend id 0, which the switch reads as "no backend"/,
  );
  assert.match(judged[2].verdict.detail!, /backend id 0 points at 10\.0\.2\.2/);
});

Deno.test("each mistake fails its own table", () => {
  const without = (pred: (e: EntryView) => boolean) => complete().filter((e) => !pred(e));
  const edit = (table: string, fn: (e: EntryView) => EntryView) =>
    complete().map((e) => (e.table === `LbIngress.${table}` ? fn(e) : e));

  const wrongPort = edit("vip", (e) => ({ ...e, params: { ...e.params, service_port: 80 } }));
  assert.match(judgeLbEntries(wrongPort, X)[0].verdict.detail!, /service_port is 80/);
  const noSlots = edit("vip", (e) => ({ ...e, params: { ...e.params, slot_count: 0 } }));
  assert.deepEqual(oks(noSlots).slice(0, 2), [false, false]);

  const gap = without((e) => e.table === "LbIngress.slots" && e.match.slot === 2);
  assert.deepEqual(oks(gap), [true, false, true, true]);
  assert.match(judgeLbEntries(gap, X)[1].verdict.detail!, /1 of 4 slots have no entry \(slot 2\)/);
  const shifted = edit("slots", (e) => ({ ...e, match: { slot: Number(e.match.slot) + 1 } }));
  assert.match(
    judgeLbEntries(shifted, X)[1].verdict.detail!,
    /\(slot 0\).*entries for slot\(s\) 4 are never used \(slot_count is 4\)/,
  );

  const dangling = edit(
    "slots",
    (e) => (e.match.slot === 0 ? { ...e, params: { backend_id: 5 } } : e),
  );
  assert.match(judgeLbEntries(dangling, X)[1].verdict.detail!, /slot 0 -> backend 5/);

  const stranger = edit(
    "backends",
    (e) => (e.match.backend_id === 2 ? { ...e, params: { backend_ip: "10.0.9.9" } } : e),
  );
  assert.match(judgeLbEntries(stranger, X)[2].verdict.detail!, /points at 10\.0\.9\.9/);

  const oneBackend = edit("slots", (e) => ({ ...e, params: { backend_id: 1 } }));
  assert.deepEqual(oks(oneBackend), [true, false, false, true]);
  assert.match(
    judgeLbEntries(oneBackend, X)[2].verdict.detail!,
    /no slot leads to h3 \(10\.0\.3\.3\)/,
  );

  const noSource = without((e) =>
    e.table === "LbIngress.backend_sources" && e.match.src_addr === "10.0.3.3"
  );
  assert.deepEqual(oks(noSource), [true, true, true, false]);
  const wrongVip = edit("backend_sources", (e) => ({ ...e, params: { vip_addr: "10.0.0.1" } }));
  assert.match(
    judgeLbEntries(wrongVip, X)[3].verdict.detail!,
    /rewritten to 10\.0\.0\.1, not the VIP/,
  );
});
