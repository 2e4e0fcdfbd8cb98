import assert from "node:assert/strict";
import {
  confListPath,
  currentDenoDir,
  installCniPlugin,
  launcherScript,
  netConfList,
  pluginPath,
} from "../../../lib/kubernetes/cni/install.ts";
import { shellQuote } from "../../../lib/shell.ts";
import { repoRoot } from "../../../lib/lab/paths.ts";
import { kubernetesLab } from "./_fixtures.ts";

Deno.test("launcherScript: pins DENO_DIR and PATH, runs main.ts without downloads", () => {
  const script = launcherScript({
    denoPath: "/usr/bin/deno",
    repo: "/srv/it's here",
    denoDir: "/root/.cache/deno",
  });
  assert.equal(
    script,
    [
      "#!/bin/sh",
      "# p4cf CNI plugin of P4ContainerFlow (written by lib/kubernetes/cni/install.ts).",
      "# CRI-O runs it with a minimal environment: pin what Deno and the plugin need.",
      "DENO_DIR='/root/.cache/deno'",
      'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"',
      "DENO_NO_UPDATE_CHECK=1",
      "NO_COLOR=1",
      "export DENO_DIR PATH DENO_NO_UPDATE_CHECK NO_COLOR",
      "exec '/usr/bin/deno' run --allow-all --no-prompt --quiet --cached-only --config " +
      `'/srv/it'\\''s here/deno.json' '/srv/it'\\''s here/lib/kubernetes/cni/main.ts' "$@"`,
      "",
    ].join("\n"),
  );
  assert.equal(shellQuote("a'b"), `'a'\\''b'`);
});

Deno.test("netConfList: one p4cf plugin naming the lab file and its run root", async () => {
  const lab = await kubernetesLab();
  assert.deepEqual(netConfList(lab), {
    cniVersion: "1.0.0",
    name: "p4cf-k8s",
    plugins: [{
      type: "p4cf",
      labFile: `${repoRoot()}/lab/kubernetes.yaml`,
      runRoot: "/nonexistent/p4t-cni-runs",
    }],
  });
  assert.equal(confListPath("/etc/cni/net.d", lab), "/etc/cni/net.d/10-p4cf-k8s.conflist");
  assert.equal(pluginPath("/opt/cni/bin"), "/opt/cni/bin/p4cf");
});

Deno.test("currentDenoDir: DENO_DIR, XDG_CACHE_HOME, HOME in that order", () => {
  assert.equal(currentDenoDir({ DENO_DIR: "/d", HOME: "/h" }), "/d");
  assert.equal(currentDenoDir({ DENO_DIR: "rel" }, "/work"), "/work/rel");
  assert.equal(currentDenoDir({ XDG_CACHE_HOME: "/x", HOME: "/h" }), "/x/deno");
  assert.equal(currentDenoDir({ HOME: "/h" }), "/h/.cache/deno");
  assert.throws(() => currentDenoDir({}), TypeError);
});

Deno.test("installCniPlugin: the launcher answers VERSION with an empty environment", async () => {
  const lab = await kubernetesLab();
  const dir = await Deno.makeTempDir({ prefix: "p4t-cni-install-" });
  try {
    const { plugin, confList } = await installCniPlugin({
      lab,
      binDir: `${dir}/bin`,
      confDir: `${dir}/net.d`,
    });
    assert.equal(plugin, `${dir}/bin/p4cf`);
    assert.equal((await Deno.stat(plugin)).mode! & 0o777, 0o755);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(confList)), netConfList(lab));
    const out = await new Deno.Command("env", {
      args: ["-i", "CNI_COMMAND=VERSION", plugin],
      cwd: "/",
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = out.stdin.getWriter();
    await writer.write(new TextEncoder().encode('{"cniVersion":"1.0.0"}'));
    await writer.close();
    const { code, stdout, stderr } = await out.output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(text), {
      cniVersion: "1.0.0",
      supportedVersions: ["0.4.0", "1.0.0"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
