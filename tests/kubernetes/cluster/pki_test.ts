import assert from "node:assert/strict";
import {
  caArgv,
  certArgv,
  type CertSpec,
  extensionText,
  KUBERNETES_SERVICE_IP,
  MIGRATOR_USER,
  pkiPlan,
  randomSerial,
  serviceAccountArgv,
} from "../../../lib/kubernetes/cluster/pki.ts";

const DIR = "/run/lab/k8s/pki";
const plan = pkiPlan(DIR, { nodeName: "k8s-node", nodeIp: "10.254.7.1" });
const cert = (name: string): CertSpec => {
  const c = plan.certs.find((x) => x.name === name);
  assert.ok(c, `no certificate ${name}`);
  return c;
};

Deno.test("two CAs: the cluster's and etcd's; etcd certificates come from etcd's only", () => {
  assert.deepEqual(plan.cas.map((c) => c.name), ["ca", "etcd-ca"]);
  const byEtcd = plan.certs.filter((c) => c.ca === "etcd-ca").map((c) => c.name).sort();
  assert.deepEqual(byEtcd, ["apiserver-etcd-client", "etcd-server"]);
});

Deno.test("subjects: admin and the API server's kubelet client are masters, the kubelet a node", () => {
  assert.equal(cert("admin").subject, "/O=system:masters/CN=p4cf-admin");
  assert.equal(
    cert("apiserver-kubelet-client").subject,
    "/O=system:masters/CN=kube-apiserver-kubelet-client",
  );
  assert.equal(cert("kubelet-client").subject, "/O=system:nodes/CN=system:node:k8s-node");
  assert.equal(cert("kubelet-serving").subject, "/O=system:nodes/CN=system:node:k8s-node");
  assert.equal(cert("controller-manager").subject, "/CN=system:kube-controller-manager");
  assert.equal(cert("scheduler").subject, "/CN=system:kube-scheduler");
});

Deno.test("the migrator's certificate is a plain user: no group, client use only", () => {
  const m = cert("migrator");
  assert.equal(m.subject, `/CN=${MIGRATOR_USER}`);
  assert.ok(!m.subject.includes("/O="));
  assert.deepEqual(m.usages, ["clientAuth"]);
  assert.equal(m.ca, "ca");
});

Deno.test("SANs: the API server answers on loopback, the node address and the Service IP", () => {
  const sans = cert("apiserver").sans;
  for (const san of ["IP:127.0.0.1", "IP:10.254.7.1", `IP:${KUBERNETES_SERVICE_IP}`]) {
    assert.ok(sans.includes(san), san);
  }
  assert.ok(sans.includes("DNS:kubernetes.default.svc.cluster.local"));
  assert.deepEqual(cert("kubelet-serving").sans, [
    "IP:10.254.7.1",
    "IP:127.0.0.1",
    "DNS:localhost",
    "DNS:k8s-node",
  ]);
  assert.deepEqual(cert("etcd-server").sans, ["IP:127.0.0.1", "DNS:localhost"]);
});

Deno.test("EKUs: servers serverAuth, clients clientAuth, etcd and healthz servers both", () => {
  const usages = Object.fromEntries(plan.certs.map((c) => [c.name, c.usages.join(",")]));
  assert.deepEqual(usages, {
    "etcd-server": "serverAuth,clientAuth",
    "apiserver-etcd-client": "clientAuth",
    apiserver: "serverAuth",
    "apiserver-kubelet-client": "clientAuth",
    admin: "clientAuth",
    "controller-manager": "serverAuth,clientAuth",
    scheduler: "serverAuth,clientAuth",
    "kubelet-client": "clientAuth",
    "kubelet-serving": "serverAuth",
    migrator: "clientAuth",
  });
});

Deno.test("extension file: not a CA, the EKUs, the SANs", () => {
  assert.equal(
    extensionText(cert("etcd-server")),
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  assert.ok(!extensionText(cert("admin")).includes("subjectAltName"));
});

Deno.test("openssl argv: a self-signed CA, then key+request and the CA's signature", () => {
  const ca = caArgv(DIR, plan.cas[0]);
  assert.deepEqual(ca.slice(0, 3), ["openssl", "req", "-x509"]);
  assert.ok(ca.includes("basicConstraints=critical,CA:TRUE"));
  assert.equal(ca[ca.indexOf("-keyout") + 1], `${DIR}/ca.key`);
  const [req, sign] = certArgv(DIR, cert("etcd-server"), "0abc");
  assert.deepEqual(req.slice(0, 3), ["openssl", "req", "-new"]);
  assert.equal(req[req.indexOf("-subj") + 1], "/CN=etcd-server");
  assert.ok(req.includes("ec_paramgen_curve:prime256v1"));
  assert.equal(sign[sign.indexOf("-CA") + 1], `${DIR}/etcd-ca.crt`);
  assert.equal(sign[sign.indexOf("-CAkey") + 1], `${DIR}/etcd-ca.key`);
  assert.equal(sign[sign.indexOf("-set_serial") + 1], "0x0abc");
  assert.equal(sign[sign.indexOf("-out") + 1], `${DIR}/etcd-server.crt`);
  assert.deepEqual(serviceAccountArgv(DIR)[1], [
    "openssl",
    "pkey",
    "-in",
    `${DIR}/sa.key`,
    "-pubout",
    "-out",
    `${DIR}/sa.pub`,
  ]);
});

Deno.test("serials are 16 random bytes, positive", () => {
  const a = randomSerial();
  assert.match(a, /^[0-7][0-9a-f]{31}$/);
  assert.notEqual(a, randomSerial());
});
