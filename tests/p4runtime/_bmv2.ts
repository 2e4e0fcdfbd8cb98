/**
 * Test helper: a throwaway `simple_switch_grpc` with no interfaces, listening on free loopback
 * ports, with its output kept for failure messages. Only for tests that declare needs ["bmv2"].
 */
import { fileURLToPath } from "node:url";

/** The compiled fixture program (tests/fixtures/p4rt_fixture.p4) committed under build/. */
export const FIXTURE_BUILD = {
  bmv2Json: fileURLToPath(new URL("../fixtures/build/p4rt_fixture.json", import.meta.url)),
  p4infoBinary: fileURLToPath(
    new URL("../fixtures/build/p4rt_fixture.p4info.bin", import.meta.url),
  ),
};

/** Why the fixture build is unusable, or undefined when it is there. */
export function fixtureBuildMissing(): string | undefined {
  for (const path of Object.values(FIXTURE_BUILD)) {
    try {
      Deno.statSync(path);
    } catch {
      return `${path} is missing (compile tests/fixtures/p4rt_fixture.p4 with p4c)`;
    }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (closed again, so a switch can bind it). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface TestSwitch {
  grpcAddress: string;
  /** BMv2's event log (removed by stop). */
  logFile: string;
  /** Last lines of the switch's output, for assertion messages. */
  tail(): string;
  stop(): Promise<void>;
}

/** Starts `simple_switch_grpc --no-p4` on free ports; stop it in a finally block. */
export async function startTestSwitch(deviceId = 0): Promise<TestSwitch> {
  const dir = await Deno.makeTempDir({ prefix: "p4rt-bmv2-" });
  const grpcPort = freePort();
  const logFile = `${dir}/events.txt`;
  const child = new Deno.Command("simple_switch_grpc", {
    args: [
      "--device-id",
      String(deviceId),
      "--thrift-port",
      String(freePort()),
      // The default nanomsg socket is shared by every switch with the same device id.
      "--notifications-addr",
      `ipc://${dir}/notifications.ipc`,
      "--log-file",
      `${dir}/events`,
      "--log-flush",
      "--no-p4",
      "--",
      "--grpc-server-addr",
      `127.0.0.1:${grpcPort}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let stopped = false;
  return {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    logFile,
    tail: () => output.trim().split("\n").slice(-10).join("\n"),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already exited.
        }
      }, 3000);
      await child.status;
      clearTimeout(timer);
      await drained;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
