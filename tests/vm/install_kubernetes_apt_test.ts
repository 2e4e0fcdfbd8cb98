/**
 * lab/provision/install-kubernetes-apt.sh where Kubernetes' and CRI-O's repositories cannot be
 * reached (as on the project's machines): it says so, exits 3 for lab/provision.sh to report and
 * go on, and leaves no source line or key behind (one apt cannot fetch would break every later
 * apt-get update).
 */
import assert from "node:assert/strict";
import { capTest, missing } from "../_caps.ts";
import { defaultShell } from "../../lib/shell.ts";

const SCRIPT = new URL("../../lab/provision/install-kubernetes-apt.sh", import.meta.url).pathname;
const FILES = [
  "/etc/apt/sources.list.d/p4containerflow-kubernetes.list",
  "/etc/apt/sources.list.d/p4containerflow-cri-o.list",
  "/etc/apt/keyrings/p4containerflow-kubernetes.asc",
  "/etc/apt/keyrings/p4containerflow-cri-o.asc",
];
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
// A machine provisioned with these repositories: this test cannot tell what it would leave.
const provisioned = FILES.filter((f) => {
  try {
    Deno.statSync(f);
    return true;
  } catch {
    return false;
  }
});

const UNREACHABLE =
  "install-kubernetes-apt.sh: unreachable repositories are reported, nothing is left";
const reasons = [
  ...missing(["root"]),
  ...provisioned.map((f) => `${f} exists (this machine was provisioned with it)`),
];
if (reasons.length) console.log(`SKIP ${UNREACHABLE}: ${reasons.join("; ")}`);
Deno.test({
  name: UNREACHABLE,
  ignore: reasons.length > 0,
  fn: async () => {
    // Port 9 on loopback: nothing listens, so the connection is refused at once.
    const out = await defaultShell.run(["bash", SCRIPT], {
      check: false,
      timeoutMs: 120_000,
      env: {
        P4CF_KUBERNETES_APT_URL: "http://127.0.0.1:9/k8s",
        P4CF_CRIO_APT_URL: "http://127.0.0.1:9/crio",
      },
    });
    assert.equal(out.code, 3, out.stdout + out.stderr);
    assert.match(
      out.stdout,
      /^unreachable: Kubernetes's apt repository \(http:\/\/127\.0\.0\.1:9\/k8s\)$/m,
    );
    assert.match(
      out.stdout,
      /^unreachable: CRI-O's apt repository \(http:\/\/127\.0\.0\.1:9\/crio\)$/m,
    );
    assert.doesNotMatch(out.stdout, /^(changed|package|file): /m);
    for (const f of FILES) assert.equal(await exists(f), false, `${f} left behind`);
  },
});

capTest({
  name: "install-kubernetes-apt.sh: a version that is not a minor release is refused",
  needs: [],
  fn: async () => {
    const out = await defaultShell.run(["bash", SCRIPT], {
      check: false,
      env: { P4CF_KUBERNETES_VERSION: "1.36.2" },
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /P4CF_KUBERNETES_VERSION=1\.36\.2 is not a minor release like v1\.36/);
  },
});
