import assert from "node:assert/strict";
import { up } from "../../lib/topology/apply.ts";
import { buildHostImage } from "../../lib/topology/host_image.ts";
import { status } from "../../lib/topology/status.ts";
import { down } from "../../lib/topology/teardown.ts";
import { defaultShell } from "../../lib/shell.ts";
import { capTest } from "../_caps.ts";
import { leftovers, sh, testLab } from "./_lab.ts";

capTest({
  name:
    "host-containers: pods wired through their attached netns; containers in a pod see the lab address; down leaves nothing",
  needs: ["netns", "podman"],
  fn: async () => {
    const { lab, runRoot } = await testLab("host-containers");
    const image = `localhost/${lab.id}-tools:test`;
    try {
      const t0 = performance.now();
      await up(lab);
      const upMs = performance.now() - t0;
      const pods = await sh(
        "podman",
        "pod",
        "ls",
        "--filter",
        `label=p4cf.lab=${lab.name}`,
        "--format",
        "{{.Name}} {{.Status}}",
      );
      for (const h of lab.hosts) assert.match(pods, new RegExp(`^${h.pod} Running$`, "m"));

      // The pod's own namespace is the one the lab wired: a container in the pod sees eth0 with
      // the host's MAC and address, and podman assigned nothing.
      await buildHostImage(defaultShell, {
        tag: image,
        binaries: ["/usr/bin/cat", "/usr/bin/sleep"],
        entrypoint: ["/usr/bin/cat"],
      });
      const h2 = lab.hosts[1];
      const mac = await sh(
        "podman",
        "run",
        "--rm",
        "--pod",
        h2.pod!,
        "--label",
        `p4cf.lab=${lab.name}`,
        image,
        "/sys/class/net/eth0/address",
      );
      assert.equal(mac.trim(), h2.mac);
      const trie = await sh("podman", "run", "--rm", "--pod", h2.pod!, image, "/proc/net/fib_trie");
      assert.match(trie, new RegExp(`\\|-- ${h2.ip.replaceAll(".", "\\.")}\\n\\s+/32 host LOCAL`));

      // A workload in a pod and a loose labelled container (e.g. restored elsewhere) go with down.
      await sh(
        "podman",
        "run",
        "--detach",
        "--pod",
        lab.hosts[0].pod!,
        "--name",
        `${lab.id}-worker`,
        "--label",
        `p4cf.lab=${lab.name}`,
        "--entrypoint",
        "/usr/bin/sleep",
        image,
        "600",
      );
      await sh(
        "podman",
        "run",
        "--detach",
        "--network",
        "none",
        "--name",
        `${lab.id}-loose`,
        "--label",
        `p4cf.lab=${lab.name}`,
        "--entrypoint",
        "/usr/bin/sleep",
        image,
        "600",
      );

      assert.equal((await up(lab)).alreadyUp, true);
      const st = await status(lab);
      assert.deepEqual(st.problems, []);
      assert.deepEqual(st.hosts.map((h) => h.pod?.status), ["Running", "Running", "Running"]);

      const t1 = performance.now();
      const gone = await down(lab);
      const downMs = performance.now() - t1;
      assert.deepEqual(gone.failed, []);
      assert.ok(gone.removed.includes(`container ${lab.id}-loose`), JSON.stringify(gone.removed));
      assert.deepEqual(await leftovers(lab), []);
      console.log(
        `host-containers topology (3 pods, no switch): up ${upMs.toFixed(0)} ms, down ${
          downMs.toFixed(0)
        } ms`,
      );
      assert.deepEqual((await down(lab)).failed, []);
    } finally {
      await down(lab).catch(() => {});
      await sh("podman", "rmi", "--force", image).catch(() => "");
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name: "a restarted pod is reported: its namespace is no longer the attached one",
  needs: ["netns", "podman"],
  fn: async () => {
    const { lab, runRoot } = await testLab(
      "host-containers",
      (t) => t.replace("  h3: { ip: 10.0.3.3/24 }\n", "").replace("  - [h3, s1:3]\n", ""),
    );
    try {
      await up(lab);
      await sh("podman", "pod", "restart", lab.hosts[0].pod!);
      const st = await status(lab);
      assert.ok(
        st.problems.some((p) => p.includes(`no longer the namespace of pod ${lab.hosts[0].pod}`)),
        st.problems.join("; "),
      );
      await assert.rejects(up(lab), /up but broken/);
      await down(lab);
      assert.deepEqual(await leftovers(lab), []);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});
