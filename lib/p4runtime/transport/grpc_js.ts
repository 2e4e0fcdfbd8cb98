/**
 * The fallback transport: npm:@grpc/grpc-js, with serialized messages passed through untouched,
 * so the client above it is the same whichever transport runs. Select it with
 * `transport: "grpc-js"` or `P4CF_P4RUNTIME_TRANSPORT=grpc-js`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { Code } from "../messages.ts";
import { RpcError } from "./status.ts";
import type { BidiCall, BidiHandlers, Transport } from "./types.ts";

const pass = (bytes: Uint8Array) => bytes as Buffer;
const asBytes = (bytes: Buffer) => bytes as Uint8Array;

/** grpc-js's error as a transport-neutral {@link RpcError}. */
function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (err instanceof Error && typeof e.code === "number") {
    const raw = e.metadata?.get("grpc-status-details-bin")[0];
    return new RpcError(
      e.code,
      e.details ?? err.message,
      raw instanceof Uint8Array ? new Uint8Array(raw) : undefined,
      { cause: err },
    );
  }
  return new RpcError(Code.UNKNOWN, String(err), undefined, { cause: err });
}

export interface GrpcJsTransportOptions {
  maxMessage: number;
}

/** grpc-js behind the {@link Transport} interface. */
export class GrpcJsTransport implements Transport {
  readonly kind = "grpc-js" as const;
  readonly #client: grpc.Client;

  constructor(address: string, options: GrpcJsTransportOptions) {
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": 50,
      "grpc.max_reconnect_backoff_ms": 500,
      "grpc.max_receive_message_length": options.maxMessage,
      "grpc.max_send_message_length": options.maxMessage,
      // Keep the channel from idling between sparse controller writes.
      "grpc.client_idle_timeout_ms": 24 * 3600 * 1000,
    });
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (!err) return resolve();
        reject(new RpcError(Code.UNAVAILABLE, err.message, undefined, { cause: err }));
      });
    });
  }

  unary(path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        path,
        pass,
        asBytes,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(toRpcError(err)) : resolve(res!)),
      );
    });
  }

  async *serverStream(
    path: string,
    request: Uint8Array,
    timeoutMs: number,
  ): AsyncGenerator<Uint8Array> {
    const call = this.#client.makeServerStreamRequest(
      path,
      pass,
      asBytes,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
    );
    try {
      for await (const message of call) yield message as Uint8Array;
    } catch (err) {
      throw toRpcError(err);
    } finally {
      call.cancel();
    }
  }

  sent(): Promise<void> {
    // grpc-js writes from the event loop: a turn of it (setTimeout; 2 ms on Deno, measured).
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  bidi(path: string, handlers: BidiHandlers): BidiCall {
    const stream = this.#client.makeBidiStreamRequest(path, pass, asBytes);
    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    stream.on("data", (m: Uint8Array) => handlers.onMessage(m));
    stream.on("error", (err: Error) => end(toRpcError(err)));
    stream.on("status", (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) end();
    });
    return {
      write: (message) => stream.write(message),
      end: () => stream.end(),
      cancel: () => {
        ended = true;
        stream.end();
        stream.cancel();
      },
    };
  }

  close(): void {
    this.#client.close();
  }
}
