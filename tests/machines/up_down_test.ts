/**
 * `lab up` and `lab down` of a lab with machines (namespaces and links only, no switch): a second
 * `up` changes nothing, an underlay subnet the machine already routes is refused before anything
 * is created, and `down` after `up` was killed with SIGKILL half-way leaves nothing.
 */
import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { labUp } from "../../lib/runtime/session.ts";
import { silentProgress } from "../../lib/progress.ts";
import { capTest } from "../_caps.ts";
import { output, sh } from "../topology/_lab.ts";
import { withMachinesLab } from "./_rig.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lab's namespaces that exist now. */
async function labNamespaces(id: string): Promise<string[]> {
  return (await output("ip", ["netns", "list"])).split("\n").filter((l) => l.startsWith(`${id}-`));
}

capTest({
  name: "machines: a second up changes nothing; down removes tunnels, underlay and directories",
  needs: ["netns"],
  fn: () =>
    withMachinesLab({}, async ({ lab }) => {
      const first = await labUp(lab, { progress: silentProgress, topologyOnly: true });
      assert.equal(first.topology.alreadyUp, false);
      const links = await output("ip", ["-o", "link", "show"]);
      const again = await labUp(lab, { progress: silentProgress, topologyOnly: true });
      assert.equal(again.topology.alreadyUp, true);
      assert.equal(await output("ip", ["-o", "link", "show"]), links, "no link added or lost");
      assert.match(
        await output("ip", ["-d", "link", "show", "dev", `${lab.id}-s1-eth3`]),
        /vxlan id/,
      );
      assert.ok((await labNamespaces(lab.id!)).some((n) => n.startsWith(`${lab.id}-m3`)));
    }),
});

capTest({
  name: "machines: an underlay subnet already routed here is refused, nothing left behind",
  needs: ["netns"],
  fn: () =>
    withMachinesLab({}, async ({ lab }) => {
      const u = lab.underlay!;
      // A link holding an address of the underlay's subnet (this kernel has no dummy devices).
      const clash = `${lab.id}-clash`;
      await sh("ip", "link", "add", clash, "type", "veth", "peer", "name", `${lab.id}-clsh2`);
      try {
        await sh(
          "ip",
          "addr",
          "add",
          `${u.subnet.replace(/\.0$/, ".200")}/${u.prefix}`,
          "dev",
          clash,
        );
        await sh("ip", "link", "set", "dev", clash, "up");
        const err = await labUp(lab, { progress: silentProgress, topologyOnly: true }).then(
          () => undefined,
          (e) => e,
        );
        assert.ok(err instanceof UserError, String(err));
        assert.match(err.message, new RegExp(`its underlay ${u.subnet}/${u.prefix} overlaps`));
        assert.match(err.hint ?? "", /set underlay: to a free subnet/);
        assert.deepEqual(await labNamespaces(lab.id!), [], "refused before anything exists");
      } finally {
        await sh("ip", "link", "del", "dev", clash);
      }
    }),
});

capTest({
  name: "machines: down after lab up was killed half-way through the machines leaves nothing",
  needs: ["netns"],
  fn: () =>
    withMachinesLab({}, async ({ lab, runRoot }) => {
      const main = new URL("../../main.ts", import.meta.url).pathname;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "lab", "up", lab.file, "--topology-only", "--run-root", runRoot],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Killed once the first simulated machine exists, before its tunnels do.
      const deadline = Date.now() + 60_000;
      while (!(await labNamespaces(lab.id!)).includes(`${lab.id}-m2`)) {
        if (Date.now() > deadline) {
          child.kill("SIGKILL");
          throw new Error("lab up never created machine m2");
        }
        await sleep(2);
      }
      child.kill("SIGKILL");
      await child.status;
    }),
});
