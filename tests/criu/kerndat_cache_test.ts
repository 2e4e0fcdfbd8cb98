import assert from "node:assert/strict";
import {
  ensureKerndatCache,
  kerndatStamp,
  kerndatStampPath,
  mountFsType,
} from "../../lib/criu/kerndat_cache.ts";
import { criuBinary } from "../../lib/capabilities.ts";
import { capTest } from "../_caps.ts";

const MOUNTINFO = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
  "25 22 0:21 / /run rw,nosuid shared:5 - tmpfs tmpfs rw,mode=755",
  "26 25 0:22 / /run/lock rw shared:6 - tmpfs tmpfs rw",
  "27 22 0:23 / /run\\040x rw shared:7 - ext4 /dev/vdb rw",
].join("\n");

Deno.test("the filesystem holding a path is the longest mount point above it", () => {
  assert.equal(mountFsType(MOUNTINFO, "/run"), "tmpfs");
  assert.equal(mountFsType(MOUNTINFO, "/run/criu"), "tmpfs");
  assert.equal(mountFsType(MOUNTINFO, "/runner"), "ext4");
  assert.equal(mountFsType(MOUNTINFO, "/run x"), "ext4");
  assert.equal(mountFsType(MOUNTINFO.split("\n")[0], "/run"), "ext4");
});

Deno.test("CRIU keeps its own cache where /run is a tmpfs: nothing is run", async () => {
  const calls: string[] = [];
  const state = await ensureKerndatCache({
    criu: "/nonexistent/criu",
    mountinfo: MOUNTINFO,
    shell: {
      run(argv) {
        calls.push(argv.join(" "));
        return Promise.resolve({ code: 0, stdout: "", stderr: "" });
      },
    },
  });
  assert.equal(state, "criu-managed");
  assert.deepEqual(calls, []);
});

capTest({
  name: "a cache made in a private mount namespace is installed with its stamp, then reused",
  needs: ["root", "criu"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "p4t-kdat-" });
    try {
      const cacheFile = `${dir}/criu.kdat`;
      const mountinfo = MOUNTINFO.split("\n")[0];
      assert.equal(await ensureKerndatCache({ cacheFile, mountinfo }), "created");
      assert.ok((await Deno.stat(cacheFile)).size > 0);
      assert.equal(
        await Deno.readTextFile(kerndatStampPath(cacheFile)),
        await kerndatStamp(criuBinary()!),
      );
      assert.equal(await ensureKerndatCache({ cacheFile, mountinfo }), "present");
      // A stamp for another boot makes it again.
      await Deno.writeTextFile(kerndatStampPath(cacheFile), "boot other\n");
      assert.equal(await ensureKerndatCache({ cacheFile, mountinfo }), "created");
      // A cache without our stamp is CRIU's own: left alone.
      await Deno.remove(kerndatStampPath(cacheFile));
      assert.equal(await ensureKerndatCache({ cacheFile, mountinfo }), "criu-managed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
