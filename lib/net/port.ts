/** Waiting for a local TCP server (a switch's gRPC port) to accept connections. */

/**
 * Resolves true once 127.0.0.1:port accepts a TCP connection, false after `timeoutMs` or as soon
 * as `stillRunning` says the server's process is gone.
 */
export async function waitForPort(
  port: number,
  options: { timeoutMs?: number; stillRunning?: () => boolean } = {},
): Promise<boolean> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (options.stillRunning && !options.stillRunning()) return false;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}
