import assert from "node:assert/strict";
import { withClientInterval } from "../../lib/bench/labs.ts";
import {
  CONTAINER_PEER_LAB,
  peerCheckpointArgv,
  peerRestoreArgv,
} from "../../lib/bench/peers_container.ts";
import { loadLab } from "../../lib/lab/load.ts";

Deno.test("the peer is Podman's plain checkpoint and restore, as a user types them", () => {
  assert.equal(
    peerCheckpointArgv("hc-server", "/x/peer.tar").join(" "),
    "podman container checkpoint --tcp-established --export /x/peer.tar --print-stats hc-server",
  );
  const restore = peerRestoreArgv("/x/peer.tar", "podid").join(" ");
  assert.equal(
    restore,
    "podman container restore --tcp-established --import /x/peer.tar --pod podid --print-stats",
  );
  // Podman's defaults: its own compression, no rewriting of the address (same pod).
  assert.doesNotMatch(restore, /--ignore-static|--compress|--name/);
});

Deno.test("both sides are measured by the lab's client sending at the bench's pace", async () => {
  const lab = await loadLab(CONTAINER_PEER_LAB);
  const paced = withClientInterval(lab, 1);
  const client = paced.workloads.find((w) => w.role === "client")!;
  assert.deepEqual(client.command.slice(-2), ["-i", "1"]);
  assert.equal(client.command.filter((a) => a === "-i").length, 1);
  // Set again, it replaces the interval rather than adding one; the server is untouched.
  const again = withClientInterval(paced, 5).workloads.find((w) => w.role === "client")!;
  assert.deepEqual(again.command.slice(-2), ["-i", "5"]);
  assert.equal(again.command.filter((a) => a === "-i").length, 1);
  assert.deepEqual(
    paced.workloads.find((w) => w.role === "server"),
    lab.workloads.find((w) => w.role === "server"),
  );
  assert.notEqual(lab.workloads.find((w) => w.role === "client")!.command.at(-1), "1");
});
