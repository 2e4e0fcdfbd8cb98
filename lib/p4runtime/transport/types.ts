/**
 * What the P4Runtime client needs from a gRPC transport, with serialized messages in and out:
 * unary calls, a server stream (Read) and a bidirectional stream (StreamChannel). Two implement
 * it: our own HTTP/2 connection (grpc.ts, the default) and grpc-js (grpc_js.ts, the fallback).
 *
 * @module
 */

/** The transports: "h2" is ours on `Deno.connect`, "grpc-js" is npm:@grpc/grpc-js. */
export type TransportKind = "h2" | "grpc-js";
export const TRANSPORT_KINDS: readonly TransportKind[] = ["h2", "grpc-js"];

/** When a unary call's request went out and its answer came in (`performance.now()` ms). */
export interface CallTiming {
  sentAt: number;
  answeredAt: number;
}

/** How busy-polls ended: the answer taken while polling, or the budget spent first. */
export interface BusyPollCounts {
  answered: number;
  timedOut: number;
}

/** Receives a bidirectional stream's messages and its end. */
export interface BidiHandlers {
  onMessage(message: Uint8Array): void;
  /** Called once: without an error when the server ended the call with OK. */
  onEnd(err?: Error): void;
}

/** Our side of a bidirectional stream. */
export interface BidiCall {
  write(message: Uint8Array): void;
  /** Half-closes (no more writes). */
  end(): void;
  /** Ends the call at once; `onEnd` is not called. */
  cancel(): void;
}

/**
 * A gRPC channel to one server. Calls fail with {@link ./status.ts RpcError} carrying the gRPC
 * status (UNAVAILABLE when the server cannot be reached).
 */
export interface Transport {
  readonly kind: TransportKind;
  /** Connects, retrying with backoff until `timeoutMs`; throws an RpcError (UNAVAILABLE). */
  waitForReady(timeoutMs: number): Promise<void>;
  /** One request, one response; fails with DEADLINE_EXCEEDED after `timeoutMs`. */
  unary(path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** One request, the responses as they come; leaving the loop early cancels the call. */
  serverStream(path: string, request: Uint8Array, timeoutMs: number): AsyncGenerator<Uint8Array>;
  /**
   * Resolves once the requests made so far are on their way (handed to the socket), so that a
   * caller can do CPU work while the server answers.
   */
  sent(): Promise<void>;
  /** A bidirectional stream without a deadline. */
  bidi(path: string, handlers: BidiHandlers): BidiCall;
  /**
   * The timing of the last unary call that got an answer, when the transport measures it (ours
   * does; grpc-js does not): what the bench uses to tell our own time from the server's.
   */
  lastUnaryTiming?(): CallTiming | undefined;
  /** How the transport's busy-polls ended so far, when it busy-polls (ours does). */
  busyPollCounts?(): BusyPollCounts;
  /** Closes the channel; calls in flight fail. Safe to call twice. */
  close(): void;
}
