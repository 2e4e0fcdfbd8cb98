/** lib/tools.ts: tools found by their explicit setting, on PATH, or where they are installed. */
import assert from "node:assert/strict";
import { probeCapability } from "../lib/capabilities.ts";
import {
  findTool,
  parseVersionLine,
  pathWithTools,
  toolCommand,
  toolEnv,
  toolVersion,
  withToolCommand,
} from "../lib/tools.ts";
import { suiteEnv } from "../tasks/test.ts";

/** A directory of stand-in programs: an /opt-style BMv2 build and a p4c with its back end. */
async function fakeInstall(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "p4cf-tools-" });
  const program = async (path: string, version: string, mode = 0o755) => {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, `#!/bin/sh\necho "${version}"\n`);
    await Deno.chmod(path, mode);
  };
  await program(`${dir}/bmv2/bin/simple_switch_grpc`, "1.15.0-test");
  await program(`${dir}/p4/bin/p4c`, "p4c 1.2.4.9 (SHA: abc BUILD: Release)");
  await program(`${dir}/p4/bin/p4c-bm2-ss`, "p4c-bm2-ss 1.2.4.9");
  await program(`${dir}/lonely/p4c`, "p4c 1.2.4.9");
  await program(`${dir}/renamed/bmv2`, "1.15.0");
  await program(`${dir}/plain/simple_switch_grpc`, "1.15.0", 0o644);
  await Deno.mkdir(`${dir}/empty`);
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const reader = (env: Record<string, string>) => (name: string) => env[name];

Deno.test("an explicit setting names the program, or a directory holding it or its bin/", async () => {
  await using fake = await fakeInstall();
  const { dir } = fake;
  const base = { PATH: `${dir}/empty` };
  for (const setting of [`${dir}/bmv2/bin/simple_switch_grpc`, `${dir}/bmv2/bin`, `${dir}/bmv2`]) {
    const found = findTool("bmv2", reader({ ...base, P4CF_BMV2: setting }));
    assert.equal(found.path, `${dir}/bmv2/bin/simple_switch_grpc`, setting);
    assert.equal(found.source, "P4CF_BMV2");
  }
  const p4c = findTool("p4c", reader({ ...base, P4CF_P4C: `${dir}/p4/bin/p4c` }));
  assert.equal(p4c.path, `${dir}/p4/bin/p4c`);
  const backEnd = findTool("p4c-bm2-ss", reader({ ...base, P4CF_P4C: `${dir}/p4` }));
  assert.equal(backEnd.path, `${dir}/p4/bin/p4c-bm2-ss`);
  assert.equal(backEnd.source, "next to p4c");
});

Deno.test("a setting that names nothing usable is reported, not replaced by another copy", async () => {
  await using fake = await fakeInstall();
  const { dir } = fake;
  // PATH has a good BMv2; the setting still wins and says what is wrong with it.
  const base = { PATH: `${dir}/bmv2/bin` };
  const cases: [string, RegExp][] = [
    [`${dir}/nowhere/simple_switch_grpc`, /does not exist/],
    [`${dir}/renamed/bmv2`, /is not named simple_switch_grpc/],
    [`${dir}/plain/simple_switch_grpc`, /is not an executable file/],
    [`${dir}/empty`, /holds no simple_switch_grpc/],
  ];
  for (const [setting, problem] of cases) {
    const found = findTool("bmv2", reader({ ...base, P4CF_BMV2: setting }));
    assert.equal(found.path, undefined, setting);
    assert.match(found.reason!, problem);
    assert.ok(found.reason!.startsWith(`P4CF_BMV2=${setting} `), found.reason);
    assert.doesNotMatch(found.reason!, /sudo/);
  }
  const lonely = findTool("p4c-bm2-ss", reader({ PATH: "", P4CF_P4C: `${dir}/lonely/p4c` }));
  assert.match(lonely.reason!, /is not next to .*lonely\/p4c/);
});

Deno.test("without a setting: PATH, then the usual install directories", async () => {
  await using fake = await fakeInstall();
  const { dir } = fake;
  const onPath = findTool("bmv2", reader({ PATH: `${dir}/empty:${dir}/bmv2/bin` }));
  assert.equal(onPath.path, `${dir}/bmv2/bin/simple_switch_grpc`);
  assert.equal(onPath.source, "PATH");
  // `ip` lives in an sbin directory that a user's PATH often lacks.
  const ip = findTool("ip", reader({ PATH: `${dir}/empty` }));
  assert.match(ip.path ?? "", /\/ip$/);
  assert.notEqual(ip.source, "PATH");
  const none = findTool("bmv2", reader({ PATH: `${dir}/empty` }));
  if (none.reason !== undefined) {
    assert.match(none.reason, /^BMv2 \(simple_switch_grpc\) is not installed; /);
    assert.match(none.reason, /as root with `P4CF_P4_SOURCE=obs bash lab\/provision.sh`/);
    assert.match(none.reason, /P4CF_BMV2/);
  }
});

Deno.test("argv[0], environment and PATH for the tool in use", async () => {
  await using fake = await fakeInstall();
  const { dir } = fake;
  const set = reader({ PATH: "/usr/bin:/bin", P4CF_BMV2: `${dir}/bmv2`, P4CF_P4C: `${dir}/p4` });
  assert.equal(toolCommand("bmv2", set), `${dir}/bmv2/bin/simple_switch_grpc`);
  assert.deepEqual(withToolCommand(["simple_switch_grpc", "--no-p4"], set), [
    `${dir}/bmv2/bin/simple_switch_grpc`,
    "--no-p4",
  ]);
  assert.deepEqual(withToolCommand(["/x/simple_switch_grpc", "-i"], set), [
    "/x/simple_switch_grpc",
    "-i",
  ]);
  assert.deepEqual(withToolCommand(["ip", "link"], set), ["ip", "link"]);
  assert.deepEqual(toolEnv("p4c", set), { PATH: `${dir}/p4/bin:/usr/bin:/bin` });
  assert.equal(pathWithTools(set), `${dir}/bmv2/bin:${dir}/p4/bin:/usr/bin:/bin`);
  // Found on PATH: the bare name, nothing to change.
  const plain = reader({ PATH: `${dir}/bmv2/bin` });
  assert.equal(toolCommand("bmv2", plain), "simple_switch_grpc");
  assert.deepEqual(toolEnv("bmv2", plain), {});
  assert.equal(pathWithTools(plain), `${dir}/bmv2/bin`);
});

Deno.test("the test suite runs set tools by name: their directories first on PATH", async () => {
  await using fake = await fakeInstall();
  const { dir } = fake;
  const env = suiteEnv({ PATH: "/usr/bin", P4CF_BMV2: `${dir}/bmv2`, HOME: "/root" });
  assert.equal(env.PATH, `${dir}/bmv2/bin:/usr/bin`);
  assert.equal(env.P4CF_BMV2, undefined);
  assert.equal(env.HOME, "/root");
  assert.equal(env.NO_COLOR, "1");
  // A broken setting stays, for the tests' probes to report.
  assert.equal(suiteEnv({ PATH: "/usr/bin", P4CF_BMV2: "/nope" }).P4CF_BMV2, "/nope");
});

Deno.test("versions: the line with a version number", async () => {
  await using fake = await fakeInstall();
  assert.equal(await toolVersion(`${fake.dir}/bmv2/bin/simple_switch_grpc`), "1.15.0-test");
  assert.equal(await toolVersion(`${fake.dir}/nowhere`), undefined);
  assert.equal(parseVersionLine("criu\nVersion: 4.2.1\nGitID: v4.2.1\n"), "Version: 4.2.1");
  assert.equal(parseVersionLine("runc version 1.1.5+ds1\ncommit: x\n"), "runc version 1.1.5+ds1");
  assert.equal(parseVersionLine(""), undefined);
});

Deno.test("capability probes honour P4CF_BMV2 and P4CF_P4C", async () => {
  await using fake = await fakeInstall();
  const saved = { bmv2: Deno.env.get("P4CF_BMV2"), p4c: Deno.env.get("P4CF_P4C") };
  try {
    Deno.env.set("P4CF_BMV2", `${fake.dir}/bmv2`);
    Deno.env.set("P4CF_P4C", `${fake.dir}/p4/bin/p4c`);
    assert.equal(probeCapability("bmv2"), undefined);
    assert.equal(probeCapability("p4c"), undefined);
    Deno.env.set("P4CF_BMV2", `${fake.dir}/nowhere`);
    assert.match(probeCapability("bmv2")!, /^P4CF_BMV2=.*nowhere does not exist/);
    Deno.env.set("P4CF_P4C", `${fake.dir}/lonely/p4c`);
    assert.match(probeCapability("p4c")!, /p4c-bm2-ss\) is not next to/);
  } finally {
    for (const [name, value] of [["P4CF_BMV2", saved.bmv2], ["P4CF_P4C", saved.p4c]] as const) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
});
