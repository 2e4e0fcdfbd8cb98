/** lib/vm/report.ts: the test summary and provisioning's "Not installed" list out of the logs. */
import assert from "node:assert/strict";
import {
  formatElapsed,
  lastLine,
  logLines,
  parseNotInstalled,
  parseTestSummary,
} from "../../lib/vm/report.ts";

Deno.test("the test summary as Vagrant relays it, with the skip reasons", () => {
  const log = [
    "    default: ok | 3 passed | 0 failed (2s)",
    "    default: 2 passed, 1 failed, 0 skipped",
    "    default: 39 skipped: 34 BMv2 (simple_switch_grpc) is not installed, 5 no Kubernetes",
    "    default: \x1b[1m276 passed, 0 failed, 39 skipped\x1b[0m",
    "",
  ].join("\n");
  assert.deepEqual(parseTestSummary(log), {
    passed: 276,
    failed: 0,
    skipped: 39,
    skipReasons: "39 skipped: 34 BMv2 (simple_switch_grpc) is not installed, 5 no Kubernetes",
  });
  assert.equal(parseTestSummary("no summary here\n"), undefined);
});

Deno.test("provisioning's Not installed list, in order, without repeats", () => {
  const log = `    default: ==> Done
    default:     Not installed (the rest works without; the tests that need them are skipped):
    default:       - BMv2 and p4c: p4lang's packages could not be installed (see above)
    default:       - Kubernetes: Kubernetes's apt repository (https://k.example) not reachable
    default:       - Kubernetes: Kubernetes's apt repository (https://k.example) not reachable
    default:     Changed on this machine:
    default:       - installed apt packages: gcc
`;
  assert.deepEqual(parseNotInstalled(log), [
    "BMv2 and p4c: p4lang's packages could not be installed (see above)",
    "Kubernetes: Kubernetes's apt repository (https://k.example) not reachable",
  ]);
  assert.deepEqual(parseNotInstalled("    default: Nothing changed\n"), []);
});

Deno.test("progress bars (carriage returns) and colours are reduced to what was seen", () => {
  assert.deepEqual(logLines("Progress: 1%\rProgress: 99%\r\x1b[KProgress: 100%\n"), [
    "Progress: 100%",
    "",
  ]);
  assert.equal(lastLine("==> default: Booting\n    default: SSH address: x\n\n"), "SSH address: x");
});

Deno.test("formatElapsed", () => {
  assert.equal(formatElapsed(42_400), "42 s");
  assert.equal(formatElapsed(185_000), "3 min 05 s");
  assert.equal(formatElapsed(3_720_000), "1 h 02 min");
});
