/**
 * Which transport a client uses: the `transport` option, else `P4CF_P4RUNTIME_TRANSPORT`, else
 * our own HTTP/2 ("h2"); and building it.
 *
 * @module
 */
import { UserError } from "../../errors.ts";
import { GrpcJsTransport } from "./grpc_js.ts";
import { H2Transport, type H2TransportOptions } from "./grpc.ts";
import { type Transport, TRANSPORT_KINDS, type TransportKind } from "./types.ts";

/** The environment variable that picks the transport when the option does not. */
export const TRANSPORT_ENV = "P4CF_P4RUNTIME_TRANSPORT";

/** The transport to use; throws {@link UserError} for an unknown name in the option or env. */
export function transportKind(option?: string): TransportKind {
  const fromEnv = option === undefined;
  const name = option ?? Deno.env.get(TRANSPORT_ENV) ?? "h2";
  if ((TRANSPORT_KINDS as readonly string[]).includes(name)) return name as TransportKind;
  throw new UserError(
    `Unknown P4Runtime transport "${name}"${fromEnv ? ` in ${TRANSPORT_ENV}` : ""}`,
    { hint: `use one of ${TRANSPORT_KINDS.join(", ")} (h2 is the default)` },
  );
}

/** A transport of the given kind to `address` (`host:port`). */
export function createTransport(
  kind: TransportKind,
  address: string,
  options: H2TransportOptions,
): Transport {
  // grpc-js has no busy-polling: its reads are its own.
  return kind === "h2" ? new H2Transport(address, options) : new GrpcJsTransport(address, options);
}
