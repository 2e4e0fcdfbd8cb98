import assert from "node:assert/strict";
import { UserError } from "../../../lib/errors.ts";
import { nodeIdentity } from "../../../lib/kubernetes/cluster/config.ts";
import { checkPorts } from "../../../lib/kubernetes/cluster/prepare.ts";

Deno.test("a lab cluster is refused beside another kubelet, naming it", async () => {
  // A process whose name is kubelet stands for another cluster's (or the machine's own).
  const dir = await Deno.makeTempDir({ prefix: "p4t-kubelet-" });
  await Deno.copyFile("/bin/sleep", `${dir}/kubelet`);
  await Deno.chmod(`${dir}/kubelet`, 0o755);
  const other = new Deno.Command(`${dir}/kubelet`, { args: ["30"] }).spawn();
  try {
    // Until it has exec'd, the child is a copy of this process, not yet named kubelet.
    const named = () => Deno.readTextFileSync(`/proc/${other.pid}/comm`).trim() === "kubelet";
    for (let i = 0; i < 200 && !named(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.throws(() => checkPorts(nodeIdentity("t9x9")), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, new RegExp(`kubelet \\(pid ${other.pid}\\) already runs`));
      assert.match(err.hint ?? "", /one Kubernetes lab runs at a time/);
      return true;
    });
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(dir, { recursive: true });
  }
  checkPorts(nodeIdentity("t9x9")); // nothing else runs: fine
});
