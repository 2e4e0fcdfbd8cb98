import assert from "node:assert/strict";
import {
  CNI_CODES,
  CniError,
  isValidIfname,
  parseCniArgs,
  parseInvocation,
  parseNetConf,
  versionOf,
} from "../../../lib/kubernetes/cni/args.ts";

const CONF = JSON.stringify({
  cniVersion: "1.0.0",
  name: "p4cf-k8s",
  type: "p4cf",
  labFile: "/repo/lab/kubernetes.yaml",
  runRoot: "/repo/.run/labs",
  prevResult: { ignored: true },
});

const ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "0123456789abcdef",
  CNI_NETNS: "/var/run/netns/0b2f-44",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=server-7d9-abcde;" +
    "K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=u-1",
  CNI_PATH: "/opt/cni/bin::/usr/libexec/cni",
};

function codeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, `not a CniError: ${err}`);
    assert.ok(err.message.length > 0 && err.details.length > 0, "message and details are set");
    assert.equal(err.hint, err.details);
    return err.code;
  }
  throw new Error("did not throw");
}

Deno.test("parseCniArgs: pairs split on the first '=', empty segments skipped", () => {
  assert.deepEqual(parseCniArgs("IgnoreUnknown=1;;K8S_POD_NAME=a=b;EMPTY="), {
    IgnoreUnknown: "1",
    K8S_POD_NAME: "a=b",
    EMPTY: "",
  });
  assert.deepEqual(parseCniArgs(""), {});
  assert.equal(codeOf(() => parseCniArgs("K8S_POD_NAME=x;oops")), CNI_CODES.invalidEnvironment);
  assert.equal(codeOf(() => parseCniArgs("=value")), CNI_CODES.invalidEnvironment);
});

Deno.test("parseInvocation: a kubelet ADD becomes a typed request", () => {
  assert.deepEqual(parseInvocation(ENV, CONF), {
    command: "ADD",
    containerId: "0123456789abcdef",
    netns: "/var/run/netns/0b2f-44",
    ifname: "eth0",
    args: {
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: "lab",
      K8S_POD_NAME: "server-7d9-abcde",
      K8S_POD_INFRA_CONTAINER_ID: "0123456789abcdef",
      K8S_POD_UID: "u-1",
    },
    pod: { name: "server-7d9-abcde", namespace: "lab" },
    path: ["/opt/cni/bin", "/usr/libexec/cni"],
    config: {
      cniVersion: "1.0.0",
      name: "p4cf-k8s",
      type: "p4cf",
      labFile: "/repo/lab/kubernetes.yaml",
      runRoot: "/repo/.run/labs",
    },
  });
});

Deno.test("parseInvocation: DEL may come without a netns or pod name; ADD may not", () => {
  const del = parseInvocation({ ...ENV, CNI_COMMAND: "DEL", CNI_NETNS: "", CNI_ARGS: "" }, CONF);
  assert.equal(del.command, "DEL");
  assert.equal(del.netns, "");
  assert.equal(del.pod, undefined);
  assert.equal(
    codeOf(() => parseInvocation({ ...ENV, CNI_NETNS: "" }, CONF)),
    CNI_CODES.invalidEnvironment,
  );
  assert.equal(
    codeOf(() => parseInvocation({ ...ENV, CNI_ARGS: "IgnoreUnknown=1" }, CONF)),
    CNI_CODES.invalidEnvironment,
  );
});

Deno.test("parseInvocation: missing or bad variables are CNI error 4", () => {
  for (const key of ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME"]) {
    assert.equal(
      codeOf(() => parseInvocation({ ...ENV, [key]: undefined }, CONF)),
      CNI_CODES.invalidEnvironment,
      key,
    );
  }
  assert.equal(codeOf(() => parseInvocation({ ...ENV, CNI_COMMAND: "GC" }, CONF)), 4);
  assert.equal(codeOf(() => parseInvocation({ ...ENV, CNI_IFNAME: "../x" }, CONF)), 4);
  assert.equal(codeOf(() => parseInvocation({ ...ENV, CNI_IFNAME: "a-very-long-name0" }, CONF)), 4);
});

Deno.test("parseInvocation: VERSION needs neither a config nor the other variables", () => {
  assert.deepEqual(parseInvocation({ CNI_COMMAND: "VERSION" }, ""), {
    command: "VERSION",
    cniVersion: "1.0.0",
  });
  assert.deepEqual(parseInvocation({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"0.4.0"}'), {
    command: "VERSION",
    cniVersion: "0.4.0",
  });
});

Deno.test("parseNetConf: JSON, version and absolute paths are checked", () => {
  assert.equal(codeOf(() => parseNetConf("{")), CNI_CODES.decodeFailure);
  assert.equal(codeOf(() => parseNetConf("[1]")), CNI_CODES.decodeFailure);
  const conf = JSON.parse(CONF);
  assert.equal(
    codeOf(() => parseNetConf(JSON.stringify({ ...conf, cniVersion: "0.3.1" }))),
    CNI_CODES.incompatibleVersion,
  );
  assert.equal(
    codeOf(() => parseNetConf(JSON.stringify({ ...conf, cniVersion: undefined }))),
    CNI_CODES.invalidConfig,
  );
  assert.equal(
    codeOf(() => parseNetConf(JSON.stringify({ ...conf, labFile: "lab/kubernetes.yaml" }))),
    CNI_CODES.invalidConfig,
  );
  assert.equal(
    codeOf(() => parseNetConf(JSON.stringify({ ...conf, runRoot: undefined }))),
    CNI_CODES.invalidConfig,
  );
  assert.equal(parseNetConf(JSON.stringify({ ...conf, cniVersion: "0.4.0" })).cniVersion, "0.4.0");
});

Deno.test("CniError.toResult is the spec's error object; versionOf falls back to 1.0.0", () => {
  const err = new CniError(100, "No free slot", "delete a pod");
  assert.deepEqual(err.toResult("0.4.0"), {
    cniVersion: "0.4.0",
    code: 100,
    msg: "No free slot",
    details: "delete a pod",
  });
  assert.equal(err.name, "CniError");
  assert.equal(versionOf("not json"), "1.0.0");
  assert.equal(versionOf('{"cniVersion":"0.4.0"}'), "0.4.0");
  assert.ok(isValidIfname("eth0") && !isValidIfname("") && !isValidIfname("a b"));
});
