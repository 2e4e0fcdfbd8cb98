/** The controller memory measurement: /proc status parsing, and the measured process on BMv2. */
import assert from "node:assert/strict";
import {
  measureControllerMemory,
  ownMemory,
  parseProcStatusMemory,
  vipEntry,
} from "../../lib/bench/controller_memory.ts";
import { CONTROLLER_DENO_FLAGS } from "../../lib/controller/process_flags.ts";
import { capTest } from "../_caps.ts";
import { startTestSwitch } from "../p4runtime/_bmv2.ts";

const STATUS = `Name:\tdeno
Umask:\t0022
VmPeak:\t 4000000 kB
VmHWM:\t  131072 kB
VmRSS:\t   92160 kB
RssAnon:\t   48000 kB
VmSwap:\t       0 kB
`;

Deno.test("VmRSS and VmHWM are read from /proc/<pid>/status in MB", () => {
  assert.deepEqual(parseProcStatusMemory(STATUS), { rssMb: 90, peakRssMb: 128 });
  assert.throws(() => parseProcStatusMemory("Name:\tdeno\nVmHWM:\t 1 kB\n"), /No VmRSS line/);
  // RssAnon and friends are not VmRSS.
  assert.throws(
    () => parseProcStatusMemory("VmHWM:\t 1 kB\nRssAnon:\t 5 kB\n"),
    /No VmRSS line/,
  );
});

Deno.test("this process's own memory is plausible", () => {
  const m = ownMemory();
  assert.ok(m.rssMb > 10 && m.rssMb <= m.peakRssMb, JSON.stringify(m));
});

Deno.test("benchmark entries are distinct keys of the vip table", () => {
  const keys = new Set(
    Array.from({ length: 70_000 }, (_, i) => JSON.stringify(vipEntry(i).match)),
  );
  assert.equal(keys.size, 70_000);
});

capTest({
  name: "BMv2: a controller process holding 10,000 entries stays within 120 MB resident",
  needs: ["bmv2"],
  async fn() {
    const sw = await startTestSwitch();
    try {
      const m = await measureControllerMemory(sw.grpcAddress);
      assert.equal(m.entries, 10_000);
      assert.deepEqual(m.denoFlags, CONTROLLER_DENO_FLAGS);
      assert.ok(m.insertSeconds > 0 && m.readSeconds > 0);
      assert.ok(m.rssMb > 20 && m.rssMb <= m.peakRssMb, JSON.stringify(m));
      assert.ok(m.rssMb <= 120, `resident ${m.rssMb.toFixed(1)} MB > 120 MB`);
    } finally {
      await sw.stop();
    }
  },
});
