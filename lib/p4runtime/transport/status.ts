/**
 * How a gRPC call ends, independent of the transport: {@link RpcError} (code, message and the
 * `grpc-status-details-bin` bytes), and the pure decoding of a response's headers and trailers
 * into it, as the gRPC HTTP/2 protocol specifies (PROTOCOL-HTTP2.md): HTTP status codes and
 * RST_STREAM codes mapped to gRPC codes, `grpc-message` percent-decoded, the details base64.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Code, codeName } from "../messages.ts";
import { H2Error } from "./frames.ts";
import type { HeaderField } from "./hpack.ts";

/** A call that ended with a non-OK gRPC status (or failed before it got one). */
export class RpcError extends Error {
  override name = "RpcError";
  constructor(
    /** gRPC status code (google.rpc.Code). */
    readonly code: number,
    /** The status message (`grpc-message`, decoded), or what went wrong on our side. */
    readonly details: string,
    /** The raw google.rpc.Status of `grpc-status-details-bin`, when the server sent one. */
    readonly statusDetails?: Uint8Array,
    options: { cause?: unknown } = {},
  ) {
    super(`${codeName(code)}: ${details}`, options);
  }
}

/** The gRPC code for a non-200 HTTP status (gRPC's http-grpc-status-mapping.md). */
export function codeForHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return Code.INTERNAL;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.UNAVAILABLE;
    default:
      return Code.UNKNOWN;
  }
}

/** The gRPC code for a stream the server reset (PROTOCOL-HTTP2.md, "Errors"). */
export function codeForReset(h2Code: number): number {
  switch (h2Code) {
    case H2Error.REFUSED_STREAM:
      return Code.UNAVAILABLE;
    case H2Error.CANCEL:
      return Code.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM:
      return Code.RESOURCE_EXHAUSTED;
    case H2Error.INADEQUATE_SECURITY:
      return Code.PERMISSION_DENIED;
    default:
      return Code.INTERNAL;
  }
}

/**
 * `grpc-message` as text: %XX sequences are UTF-8 bytes; a malformed sequence is kept as it is,
 * as the spec asks, rather than failing the call.
 */
export function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** The value of the first field called `name`, or undefined. */
export function headerValue(fields: readonly HeaderField[], name: string): string | undefined {
  for (const f of fields) if (f.name === name) return f.value;
  return undefined;
}

/**
 * Checks response headers: undefined when they start a gRPC response, else the error (a non-200
 * HTTP status, or a content type that is not gRPC).
 */
export function checkResponseHeaders(fields: readonly HeaderField[]): RpcError | undefined {
  const status = Number(headerValue(fields, ":status"));
  if (status !== 200) {
    return new RpcError(
      codeForHttpStatus(status),
      `the server answered HTTP status ${headerValue(fields, ":status") ?? "(none)"}`,
    );
  }
  const type = headerValue(fields, "content-type") ?? "";
  if (!type.startsWith("application/grpc")) {
    return new RpcError(Code.UNKNOWN, `the server answered content-type "${type}", not gRPC`);
  }
  return undefined;
}

/**
 * The status in trailers (or in the headers of a trailers-only response): undefined for OK,
 * else an {@link RpcError} with the decoded message and details.
 */
export function statusFromTrailers(fields: readonly HeaderField[]): RpcError | undefined {
  const raw = headerValue(fields, "grpc-status");
  if (raw === undefined) {
    return new RpcError(Code.UNKNOWN, "the server ended the call without a grpc-status");
  }
  const code = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(code)) {
    return new RpcError(Code.UNKNOWN, `the server sent grpc-status "${raw}", not a number`);
  }
  if (code === Code.OK) return undefined;
  const message = percentDecode(headerValue(fields, "grpc-message") ?? "");
  const details = headerValue(fields, "grpc-status-details-bin");
  // Base64, the padding optional (Buffer accepts both).
  return new RpcError(
    code,
    message,
    details === undefined ? undefined : new Uint8Array(Buffer.from(details, "base64")),
  );
}
