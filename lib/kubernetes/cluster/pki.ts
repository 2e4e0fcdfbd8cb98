/**
 * The cluster's certificates: a plan (which CA signs which subject, for which use, with which
 * addresses) that tests read without running anything, turned into openssl argv lists, and one
 * function that runs them through the {@link Shell}. Two CAs as kubeadm has them: the cluster CA
 * and etcd's own, so an etcd client certificate is never a cluster credential. EC P-256 keys:
 * generated in milliseconds, where RSA would make `up` wait a second or two.
 *
 * ```ts
 * const plan = pkiPlan(paths.pkiDir, { nodeName: "k8s-node", nodeIp: "10.254.7.1" });
 * await issueCertificates(shell, plan);
 * ```
 *
 * @module
 */
import type { Shell } from "../../shell.ts";

/** The Service network; its first address is the `kubernetes` Service, named in the API cert. */
export const SERVICE_CIDR = "10.96.0.0/24";
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

/** The user of the migrator's certificate (RBAC binds it to nodes/proxy only). */
export const MIGRATOR_USER = "p4cf-migrator";

/** How long certificates are valid: a lab cluster lives for hours, a year is plenty. */
export const VALIDITY_DAYS = 365;

export type KeyUsage = "serverAuth" | "clientAuth";

export interface CaSpec {
  name: "ca" | "etcd-ca";
  cn: string;
}

export interface CertSpec {
  /** File stem: `<name>.crt`, `<name>.key`. */
  name: string;
  ca: CaSpec["name"];
  /** OpenSSL subject, e.g. `/O=system:masters/CN=p4cf-admin`. */
  subject: string;
  usages: KeyUsage[];
  /** `IP:1.2.3.4` and `DNS:name` entries. */
  sans: string[];
}

export interface PkiPlan {
  dir: string;
  cas: CaSpec[];
  certs: CertSpec[];
}

export interface NodeAddress {
  nodeName: string;
  nodeIp: string;
}

const LOCAL = ["IP:127.0.0.1", "DNS:localhost"];

/** Every certificate the cluster needs, for a node of that name and address. */
export function pkiPlan(dir: string, node: NodeAddress): PkiPlan {
  const nodeUser = `system:node:${node.nodeName}`;
  const both: KeyUsage[] = ["serverAuth", "clientAuth"];
  const cert = (
    name: string,
    ca: CaSpec["name"],
    subject: string,
    usages: KeyUsage[],
    sans: string[] = [],
  ): CertSpec => ({ name, ca, subject, usages, sans });
  return {
    dir,
    cas: [{ name: "ca", cn: "p4cf-cluster-ca" }, { name: "etcd-ca", cn: "p4cf-etcd-ca" }],
    certs: [
      cert("etcd-server", "etcd-ca", "/CN=etcd-server", both, LOCAL),
      cert("apiserver-etcd-client", "etcd-ca", "/CN=kube-apiserver-etcd-client", ["clientAuth"]),
      cert("apiserver", "ca", "/CN=kube-apiserver", ["serverAuth"], [
        ...LOCAL,
        `IP:${node.nodeIp}`,
        `IP:${KUBERNETES_SERVICE_IP}`,
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
      ]),
      // The API server's client to the kubelet (logs, exec, the node proxy): full rights there.
      cert(
        "apiserver-kubelet-client",
        "ca",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        ["clientAuth"],
      ),
      cert("admin", "ca", "/O=system:masters/CN=p4cf-admin", ["clientAuth"]),
      // Controller manager and scheduler serve their /healthz with these too (instead of a
      // self-signed certificate nothing can verify), hence both usages.
      cert("controller-manager", "ca", "/CN=system:kube-controller-manager", both, LOCAL),
      cert("scheduler", "ca", "/CN=system:kube-scheduler", both, LOCAL),
      cert("kubelet-client", "ca", `/O=system:nodes/CN=${nodeUser}`, ["clientAuth"]),
      cert("kubelet-serving", "ca", `/O=system:nodes/CN=${nodeUser}`, ["serverAuth"], [
        `IP:${node.nodeIp}`,
        ...LOCAL,
        `DNS:${node.nodeName}`,
      ]),
      cert("migrator", "ca", `/CN=${MIGRATOR_USER}`, ["clientAuth"]),
    ],
  };
}

/** Path of a certificate in the plan's directory. */
export function certPath(dir: string, name: string): string {
  return `${dir}/${name}.crt`;
}

/** Path of a private key in the plan's directory. */
export function keyPath(dir: string, name: string): string {
  return `${dir}/${name}.key`;
}

/** The service-account token signing key pair. */
export function serviceAccountKeys(dir: string): { key: string; pub: string } {
  return { key: `${dir}/sa.key`, pub: `${dir}/sa.pub` };
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA certificate and its key. */
export function caArgv(dir: string, ca: CaSpec): string[] {
  return [
    "openssl",
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    keyPath(dir, ca.name),
    "-out",
    certPath(dir, ca.name),
    "-days",
    String(VALIDITY_DAYS),
    "-subj",
    `/CN=${ca.cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ];
}

/** The X.509 extensions of a leaf certificate, as an openssl extension file. */
export function extensionText(cert: CertSpec): string {
  return [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    `extendedKeyUsage=${cert.usages.join(",")}`,
    ...(cert.sans.length ? [`subjectAltName=${cert.sans.join(",")}`] : []),
    "",
  ].join("\n");
}

/** Key + request, then the CA's signature; `serial` is hex. */
export function certArgv(dir: string, cert: CertSpec, serial: string): string[][] {
  const csr = `${dir}/${cert.name}.csr`;
  return [
    [
      "openssl",
      "req",
      "-new",
      ...EC_KEY,
      "-keyout",
      keyPath(dir, cert.name),
      "-out",
      csr,
      "-subj",
      cert.subject,
    ],
    [
      "openssl",
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      certPath(dir, cert.ca),
      "-CAkey",
      keyPath(dir, cert.ca),
      "-set_serial",
      `0x${serial}`,
      "-days",
      String(VALIDITY_DAYS),
      "-extfile",
      `${dir}/${cert.name}.ext`,
      "-out",
      certPath(dir, cert.name),
    ],
  ];
}

/** The service-account key pair. */
export function serviceAccountArgv(dir: string): string[][] {
  const { key, pub } = serviceAccountKeys(dir);
  return [
    ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
    ["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
  ];
}

/** 16 random bytes in hex, positive (RFC 5280 wants serials unique per CA). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Issues every certificate of the plan into its directory (0700; keys 0600): the CAs first, then
 * the leaves and the service-account keys in parallel.
 */
export async function issueCertificates(
  shell: Shell,
  plan: PkiPlan,
  serial: () => string = randomSerial,
): Promise<void> {
  const { dir } = plan;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  await Promise.all(plan.cas.map((ca) => shell.run(caArgv(dir, ca))));
  const chains = [
    ...plan.certs.map(async (cert) => {
      await Deno.writeTextFile(`${dir}/${cert.name}.ext`, extensionText(cert));
      for (const argv of certArgv(dir, cert, serial())) await shell.run(argv);
    }),
    (async () => {
      for (const argv of serviceAccountArgv(dir)) await shell.run(argv);
    })(),
  ];
  await Promise.all(chains);
  for (const cert of plan.certs) {
    for (const ext of [".csr", ".ext"]) {
      await Deno.remove(`${dir}/${cert.name}${ext}`).catch(() => {});
    }
  }
  const keys = [
    ...plan.cas.map((c) => keyPath(dir, c.name)),
    ...plan.certs.map((c) => keyPath(dir, c.name)),
    serviceAccountKeys(dir).key,
  ];
  for (const key of keys) await Deno.chmod(key, 0o600);
}
