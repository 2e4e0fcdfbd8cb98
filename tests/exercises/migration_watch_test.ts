import assert from "node:assert/strict";
import {
  describeTimeline,
  judgeLockLifetime,
  judgeResumeAfterSwitch,
  judgeReturnedPid,
  judgeServerMoved,
  judgeSwitchAfterRestore,
  type Look,
  type MigrationRecord,
  parseListenerPids,
  type ServerView,
} from "../../lib/exercises/migration_watch.ts";
import { parseNsLink, parseProcStat } from "../../lib/exercises/proc_view.ts";
import { parseProcTcp } from "../../lib/net/proc_tcp.ts";

const T0 = 1_000_000;
const source = { name: "h2", ip: "10.0.2.2", netns: "e3001-h2" };
const target = { name: "h3", ip: "10.0.3.3", netns: "e3001-h3" };
const server = (state: string, connections = 4): ServerView => ({
  pid: 700,
  state,
  startedAt: T0 + 90,
  listening: true,
  clientConnections: connections,
});
const look = (at: number, parts: Partial<Look> = {}): Look => ({
  at,
  target: [],
  source: [],
  sourceLocks: [],
  ...parts,
});
const LOCK = ["nft table inet CRIU-1234"];

/** The right order: restored (stopped) at +90, switch at +100, resumed at +110. */
function good(): MigrationRecord {
  return {
    source,
    target,
    startedAt: T0,
    endedAt: T0 + 130,
    connections: 4,
    sourceGoneAt: T0 + 45,
    resumedAt: T0 + 110,
    calls: [{
      call: 'migrateBackend("h2", "h3")',
      at: T0 + 100,
      doneAt: T0 + 104,
      before: look(T0 + 100, { target: [server("T")], sourceLocks: LOCK }),
    }],
    after: look(T0 + 131, { target: [server("S")] }),
  };
}

Deno.test("the right order passes every judge, with a timeline", () => {
  const r = good();
  for (const v of [judgeServerMoved(r), judgeSwitchAfterRestore(r), judgeLockLifetime(r)]) {
    assert.equal(v.ok, true, v.detail ?? "");
  }
  assert.equal(judgeResumeAfterSwitch(r).ok, true);
  assert.equal(judgeReturnedPid(r, 700, 1, 1).ok, true);
  assert.equal(
    describeTimeline(r),
    "server left h2 +45 ms · restored on h3 (±10 ms) +90 ms · switch asked (server stopped) " +
      "+100 ms · resumed +110 ms · returned +130 ms",
  );
});

Deno.test("the switch before the restore, the lock gone early, a running restore: each fails", () => {
  const early = good();
  early.calls = [{ ...early.calls[0], before: look(T0 + 50, { sourceLocks: LOCK }) }];
  assert.match(judgeSwitchAfterRestore(early).detail!, /when nothing ran on h3 yet/);
  assert.match(judgeResumeAfterSwitch(early).detail!, /nothing ran on h3 when the switch moved/);

  const unlocked = good();
  unlocked.calls = [{ ...unlocked.calls[0], before: look(T0 + 100, { target: [server("T")] }) }];
  assert.match(judgeLockLifetime(unlocked).detail!, /already gone from h2 when the switch moved/);

  const running = good();
  running.calls = [{
    ...running.calls[0],
    before: look(T0 + 100, { target: [server("S")], sourceLocks: LOCK }),
  }];
  assert.match(judgeResumeAfterSwitch(running).detail!, /already running when the switch moved/);

  const stuck = good();
  stuck.settled = look(T0 + 1700, { target: [server("T")] });
  assert.match(judgeResumeAfterSwitch(stuck).detail!, /still stopped after the migration/);

  const leftLock = good();
  leftLock.settled = look(T0 + 1700, { target: [server("S")], sourceLocks: LOCK });
  assert.match(judgeLockLifetime(leftLock).detail!, /still has nft table inet CRIU-1234/);
});

Deno.test("no switch request, a server left on the source, the wrong pid", () => {
  const never = { ...good(), calls: [] };
  assert.match(judgeSwitchAfterRestore(never).detail!, /never asked to move the backend/);
  assert.equal(judgeLockLifetime(never).ok, false);

  const both = good();
  both.after = look(T0 + 131, { target: [server("S")], source: [{ ...server("S"), pid: 500 }] });
  assert.match(judgeServerMoved(both).detail!, /a server still listens on h2 \(pid 500\)/);

  const r = good();
  assert.match(judgeReturnedPid(r, 500, 1, undefined).detail!, /500, which does not exist/);
  assert.match(judgeReturnedPid(r, 501, 1, 1).detail!, /runs on h3 but is not the server/);
  assert.match(
    judgeReturnedPid(r, 502, 1, 2).detail!,
    /does not run on h3; the server on h3 is pid 700/,
  );
  assert.match(
    judgeReturnedPid(r, undefined, 1, undefined).detail!,
    /returned undefined, not a pid/,
  );
});

Deno.test("/proc and ss are read without running anything else", () => {
  const stat = "4242 (counter server) T 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 " +
    "987654 2400000 100";
  assert.deepEqual(parseProcStat(4242, stat), {
    pid: 4242,
    comm: "counter server",
    state: "T",
    startTicks: 987654,
  });
  assert.equal(parseNsLink("net:[4026532281]"), 4026532281);
  const tcp =
    `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:3039 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81234 1
   1: 0302000A:3039 0101000A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 81240 1`;
  assert.deepEqual(
    parseProcTcp(tcp).map((s) => [s.localPort, s.remoteIp, s.remotePort, s.state, s.inode]),
    [
      [12345, "0.0.0.0", 0, "LISTEN", 81234],
      [12345, "10.0.1.1", 40000, "ESTABLISHED", 81240],
    ],
  );
  assert.deepEqual(
    parseListenerPids(
      'LISTEN 0 128 0.0.0.0:12345 0.0.0.0:* users:(("counter_server",pid=77,fd=3))',
    ),
    [77],
  );
});
