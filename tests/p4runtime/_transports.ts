/**
 * Test helper: the same test once per transport of the P4Runtime client (our HTTP/2 and grpc-js),
 * named with the transport, with a `connect` that uses it.
 */
import { type ConnectOptions, P4RuntimeClient } from "../../lib/p4runtime/client.ts";
import { TRANSPORT_KINDS, type TransportKind } from "../../lib/p4runtime/transport/types.ts";

/** P4RuntimeClient.connect with the test's transport. */
export type Connect = (options: ConnectOptions) => Promise<P4RuntimeClient>;

/** `connect` for one transport. */
export function connectWith(transport: TransportKind): Connect {
  return (options) => P4RuntimeClient.connect({ ...options, transport });
}

/** Registers `fn` as one Deno test per transport, "name [h2]" and "name [grpc-js]". */
export function transportTest(
  name: string,
  fn: (connect: Connect, transport: TransportKind) => Promise<void>,
): void {
  for (const transport of TRANSPORT_KINDS) {
    Deno.test(`${name} [${transport}]`, () => fn(connectWith(transport), transport));
  }
}
