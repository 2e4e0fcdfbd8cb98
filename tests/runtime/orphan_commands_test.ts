import assert from "node:assert/strict";
import {
  labPodmanCommands,
  type ProcessArgv,
  settleLabPodmanCommands,
} from "../../lib/runtime/orphan_commands.ts";
import { RecordingProgress } from "../../lib/progress.ts";
import { RecordingShell } from "../../lib/shell.ts";

const RUN_DIR = "/repo/.run/labs/host-containers";

// Pids above any pid_max, so killPids finds none of them alive.
const PROCS: ProcessArgv[] = [
  {
    pid: 9_000_010,
    argv: [
      "/usr/bin/podman",
      "container",
      "restore",
      "--import",
      `${RUN_DIR}/migrations/x/target.tar`,
      "--pod",
      "0123abcd",
    ],
  },
  { pid: 9_000_011, argv: ["podman", "rm", "--force", "--ignore", "hc-server"] },
  { pid: 9_000_012, argv: ["podman", "ps", "-a"] },
  // Another lab whose directory shares the prefix, and a conmon naming podman as exit command.
  { pid: 9_000_013, argv: ["podman", "container", "checkpoint", "--export", `${RUN_DIR}-2/c.tar`] },
  {
    pid: 9_000_014,
    argv: ["/usr/bin/conmon", "-n", "hc-server", "--exit-command", "/usr/bin/podman"],
  },
  { pid: 9_000_015, argv: ["podman", "pod", "rm", "hcx-h1"] },
];

Deno.test("the lab's Podman commands are those naming its run directory or its objects", () => {
  assert.deepEqual(labPodmanCommands(PROCS, RUN_DIR, "hc"), [9_000_010, 9_000_011]);
  assert.deepEqual(labPodmanCommands(PROCS, `${RUN_DIR}/`, undefined), [9_000_010]);
  assert.deepEqual(labPodmanCommands([], RUN_DIR, "hc"), []);
});

Deno.test("lab down waits for them, and kills those that do not finish", async () => {
  let calls = 0;
  const progress = new RecordingProgress();
  const waited = await settleLabPodmanCommands(RUN_DIR, "hc", {
    shell: new RecordingShell(),
    progress,
    // Both finish after the second look.
    list: () =>
      calls++ < 2 ? PROCS : PROCS.filter((p) => p.pid !== 9_000_010 && p.pid !== 9_000_011),
  });
  assert.deepEqual(waited, [9_000_010, 9_000_011]);
  assert.ok(
    progress.events.some((e) => e.startsWith("done wait for 2") && e.endsWith("(finished)")),
  );

  const shell = new RecordingShell();
  const stuck = new RecordingProgress();
  await settleLabPodmanCommands(RUN_DIR, "hc", {
    shell,
    progress: stuck,
    list: () => PROCS,
    timeoutMs: 120,
  });
  assert.ok(shell.lines().includes("kill -TERM 9000010 9000011"), shell.lines().join("\n"));
  assert.ok(stuck.events.some((e) => e.startsWith("warn killing Podman command(s)")));

  const idle = new RecordingProgress();
  assert.deepEqual(
    await settleLabPodmanCommands(RUN_DIR, "hc", { list: () => [], progress: idle }),
    [],
  );
  assert.deepEqual(idle.events, [], "nothing to wait for: no step shown");
});
