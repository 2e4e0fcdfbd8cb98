import assert from "node:assert/strict";
import { up } from "../../lib/topology/apply.ts";
import { readState } from "../../lib/topology/state.ts";
import { down } from "../../lib/topology/teardown.ts";
import { capTest } from "../_caps.ts";
import { leftovers, testLab } from "./_lab.ts";

const CHILD = new URL("./_fixtures/up_then_hang.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** Runs `up` in a child process, kills it with SIGKILL before step `at`, returns when dead. */
async function killUpBefore(labFile: string, runRoot: string, at: number): Promise<void> {
  const marker = `${runRoot}/marker`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, CHILD, labFile, runRoot, String(at), marker],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const deadline = Date.now() + 30_000;
    while (!(await Deno.stat(marker).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the child never reached the step");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(
      status.signal,
      "SIGKILL",
      new TextDecoder().decode((await child.stderr.getReader().read()).value),
    );
  }
}

capTest({
  name: "kill -9 half-way through up of process-migration, then down leaves nothing",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration");
    try {
      await killUpBefore(lab.file, runRoot, 6); // h1 wired, h2's namespace and veth created
      const state = (await readState(lab.runDir!))!;
      assert.equal(state.phase, "creating");
      const partial = await leftovers(lab, false);
      assert.ok(
        partial.includes(`netns ${lab.id}-h2`) && partial.includes(`link ${lab.id}-s1-eth1`),
        partial.join(", "),
      );
      const gone = await down(lab);
      assert.deepEqual(gone.failed, []);
      assert.deepEqual(await leftovers(lab, false), []);
      assert.equal(await readState(lab.runDir!), undefined);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name:
    "kill -9 half-way through up of host-containers, then down leaves no pod, container or netns",
  needs: ["netns", "podman"],
  fn: async () => {
    const { lab, runRoot } = await testLab("host-containers");
    try {
      await killUpBefore(lab.file, runRoot, 6); // pod h1 wired, pod h2 about to be created
      assert.ok((await leftovers(lab)).some((l) => l.startsWith(`pod ${lab.id}-h1`)));
      await down(lab);
      assert.deepEqual(await leftovers(lab), []);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name: "a failing step during a real up rolls everything back",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration");
    try {
      await assert.rejects(
        up(lab, {
          beforeStep: (step) => {
            if (step.kind === "configure-host-iface" && step.host === "h3") {
              throw new Error("injected failure");
            }
          },
        }),
        /injected failure/,
      );
      assert.deepEqual(await leftovers(lab, false), []);
      assert.equal(await readState(lab.runDir!), undefined);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});
