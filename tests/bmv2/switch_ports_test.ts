import assert from "node:assert/strict";
import { assertSwitchPortsFree } from "../../lib/bmv2/switch.ts";
import { UserError } from "../../lib/errors.ts";
import { startControllerService } from "../../lib/controller/http.ts";
import { lbPipeline } from "../controller/_pipeline.ts";
import { oneSwitchLab } from "../controller/_lab.ts";
import { startFakes } from "../controller/_fake.ts";

Deno.test("a switch whose port is taken does not start: the error names the owner", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    const lab = oneSwitchLab("/tmp/p4t-none", port);
    assert.throws(() => assertSwitchPortsFree(lab.switches[0], lab.name), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(
        err.message,
        new RegExp(`port ${port} \\(grpc_port\\) is in use by pid ${Deno.pid} `),
      );
      assert.match(err.hint ?? "", /another grpc_port/);
      return true;
    });
  } finally {
    listener.close();
  }
});

Deno.test("the controller writes nothing to a switch that is not its lab's", async () => {
  const found = await lbPipeline();
  if ("reason" in found) return;
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-foreign-" });
  // A P4Runtime server that is some other program (here: this test process), on the lab's port.
  const fakes = await startFakes(found.paths, [0]);
  try {
    const lab = oneSwitchLab(runDir, fakes.ports[0]);
    await assert.rejects(
      () => startControllerService(lab, { pipeline: found.paths, handleSignals: false }),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /is not the one listening on 127\.0\.0\.1:\d+: that is pid \d+/);
        return true;
      },
    );
    assert.equal(fakes.writeRpcs(), 0, "not a byte written");
  } finally {
    await fakes.stop();
    await Deno.remove(runDir, { recursive: true });
  }
});
