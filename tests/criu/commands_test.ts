import assert from "node:assert/strict";
import {
  dumpArgv,
  iptablesLockCleanupArgvs,
  nftLockCleanupArgv,
  nftLockTableName,
  preDumpArgv,
  restoreArgv,
} from "../../lib/criu/commands.ts";
import { readDumpInfo } from "../../lib/criu/dump_info.ts";
import { DUMP1, DUMP1_SOURCE_IP } from "./_fixtures.ts";

// Arguments never contain spaces here, so joined argvs compare exactly and read well.
const line = (argv: string[]) => argv.join(" ");
const NS = "nsenter --net=/run/netns/p4t-src --";

Deno.test("dumpArgv runs criu inside the netns with TCP, nftables lock and a log", () => {
  assert.equal(
    line(dumpArgv({ criu: "/usr/local/sbin/criu", netns: "p4t-src", pid: 42, imagesDir: "/d" })),
    `${NS} /usr/local/sbin/criu dump -t 42 -D /d -v4 -o dump.log --tcp-established ` +
      "--network-lock nftables",
  );
  const full = dumpArgv({
    criu: "criu",
    pid: 1,
    imagesDir: "/d",
    networkLock: "iptables",
    tcpEstablished: false,
    shellJob: true,
    extUnixSk: true,
    actionScript: "/s.sh",
    trackMem: true,
    prevImagesDir: "../pre",
    leaveRunning: true,
    verbosity: 2,
    logFile: "x.log",
  });
  assert.equal(
    line(full),
    "criu dump -t 1 -D /d -v2 -o x.log --shell-job --ext-unix-sk --action-script /s.sh " +
      "--network-lock iptables --track-mem --prev-images-dir ../pre --leave-running",
  );
});

Deno.test("preDumpArgv tracks memory and chains to the previous pre-dump", () => {
  const argv = preDumpArgv({
    criu: "criu",
    netns: "p4t-src",
    pid: 7,
    imagesDir: "/d/2",
    prevImagesDir: "../1",
  });
  assert.equal(
    line(argv),
    `${NS} criu pre-dump -t 7 -D /d/2 -v4 -o pre-dump.log --track-mem --prev-images-dir ../1`,
  );
});

Deno.test("restoreArgv restores detached with TCP and a pidfile, inside the target netns", () => {
  assert.equal(
    line(restoreArgv({ criu: "criu", netns: "p4t-src", imagesDir: "/d", pidFile: "/d/pid" })),
    `${NS} criu restore -D /d -v4 -o restore.log --tcp-established --restore-detached ` +
      "--pidfile /d/pid",
  );
  const attached = restoreArgv({ criu: "criu", imagesDir: "/d", pidFile: "/p", detached: false });
  assert.ok(!attached.includes("--restore-detached"));
  const stopped = restoreArgv({
    criu: "criu",
    imagesDir: "/d",
    pidFile: "/p",
    detached: false,
    leaveStopped: true,
  });
  assert.equal(
    line(stopped),
    "criu restore -D /d -v4 -o restore.log --tcp-established --leave-stopped --pidfile /p",
  );
});

Deno.test("the nftables lock table is named as CRIU 4.2 names it (cut to 31 characters)", async () => {
  // Observed: run id 4ad5b656-4939-4464-94f1-c766c2a7781a left table "CRIU-4ad5b656-4939-4464-94".
  assert.equal(
    nftLockTableName("4ad5b656-4939-4464-94f1-c766c2a7781a"),
    "CRIU-4ad5b656-4939-4464-94",
  );
  assert.equal(nftLockTableName("short"), "CRIU-short");
  const info = await readDumpInfo(DUMP1);
  assert.equal(
    line(nftLockCleanupArgv("p4t-src", info.runId!)),
    `${NS} nft delete table inet ${nftLockTableName(info.runId!)}`,
  );
});

Deno.test("iptables cleanup deletes exactly CRIU's per-connection lock rules", () => {
  // Real `iptables -S` output after `criu dump --network-lock iptables`, plus a foreign rule.
  const listing = [
    "-P INPUT ACCEPT",
    "-P FORWARD ACCEPT",
    "-P OUTPUT ACCEPT",
    "-A INPUT -s 10.250.1.2/32 -d 10.250.2.2/32 -p tcp -m mark ! --mark 0xc114 -m tcp " +
    "--sport 52520 --dport 7000 -j DROP",
    "-A INPUT -p tcp -m tcp --dport 22 -j DROP",
    "-A OUTPUT -s 10.250.2.2/32 -d 10.250.1.2/32 -p tcp -m mark ! --mark 0xc114 -m tcp " +
    "--sport 7000 --dport 52520 -j DROP",
  ].join("\n");
  const argvs = iptablesLockCleanupArgvs("p4t-src", listing);
  assert.deepEqual(argvs.map(line), [
    `${NS} iptables -w -D INPUT -s 10.250.1.2/32 -d 10.250.2.2/32 -p tcp -m mark ! --mark ` +
    "0xc114 -m tcp --sport 52520 --dport 7000 -j DROP",
    `${NS} iptables -w -D OUTPUT -s 10.250.2.2/32 -d 10.250.1.2/32 -p tcp -m mark ! --mark ` +
    "0xc114 -m tcp --sport 7000 --dport 52520 -j DROP",
  ]);
  assert.equal(iptablesLockCleanupArgvs(undefined, listing, true)[0][0], "ip6tables");
});

Deno.test("iptables cleanup removes the namespace-wide CRIU chain a container dump leaves", () => {
  // Real `iptables -S` output in a pod's namespace after `podman container checkpoint`.
  const listing = [
    "-P INPUT ACCEPT",
    "-N CRIU",
    "-A INPUT -j CRIU",
    "-A OUTPUT -j CRIU",
    "-A CRIU -m mark --mark 0xc114 -j ACCEPT",
    "-A CRIU -j DROP",
  ].join("\n");
  assert.deepEqual(iptablesLockCleanupArgvs("p4t-src", listing).map(line), [
    `${NS} iptables -w -D INPUT -j CRIU`,
    `${NS} iptables -w -D OUTPUT -j CRIU`,
    `${NS} iptables -w -F CRIU`,
    `${NS} iptables -w -X CRIU`,
  ]);
});

Deno.test("readDumpInfo reads root pid, run id, lock method and sockets of a real dump", async () => {
  const info = await readDumpInfo(DUMP1);
  assert.equal(info.rootPid, 714);
  assert.deepEqual(info.pids, [714]);
  assert.match(info.runId ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(info.networkLock, "nftables");
  assert.equal(info.sockets.length, 3);
  assert.ok(info.sockets.every((s) => s.srcAddr === DUMP1_SOURCE_IP));
});
