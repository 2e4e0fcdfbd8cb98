/**
 * P4Runtime for P4ContainerFlow: a small, typed P4Runtime v1 client for BMv2
 * (`simple_switch_grpc`), with our own wire-compatible protos (proto/), a P4Info name index, value
 * encoding and name-based table entries.
 *
 * - {@link P4RuntimeClient}: connect (with retry), arbitration, pipelines, batched writes with
 *   per-update errors, reads, and name helpers (`insertEntry`, `readTable`, `readCounter`...).
 * - {@link P4Info}: names (full, alias, unique suffix) to ids and back, with "did you mean".
 * - {@link buildTableEntry} / {@link decodeTableEntry}: pure entry building and decoding.
 * - encoding: canonical bytestrings from numbers, IPv4/MAC text, bytes; LPM/ternary/range.
 * - errors: {@link SwitchUnreachableError}, {@link ArbitrationError}, {@link P4RuntimeWriteError}.
 * - {@link benchP4Runtime}: MODIFY latency and insert throughput measurements.
 * - transport: our own gRPC over HTTP/2 on `Deno.connect` ("h2", the default) or grpc-js, chosen
 *   with the `transport` option or `P4CF_P4RUNTIME_TRANSPORT`.
 *
 * ```ts
 * const p4info = await P4Info.load("p4/build/lb.p4info.json");
 * await using sw = await P4RuntimeClient.connect({ address: "127.0.0.1:9559", p4info });
 * await sw.setPipeline({
 *   p4infoBinary: await Deno.readFile("p4/build/lb.p4info.bin"),
 *   bmv2Json: await Deno.readFile("p4/build/lb.json"),
 * });
 * await sw.modifyEntry({ table: "lb", match: { dstAddr: "10.0.0.100" }, action: "to_server",
 *   params: { ip: "10.0.2.1" } });
 * ```
 *
 * @module
 */
export {
  type ConnectOptions,
  type CounterCell,
  type ElectionId,
  P4RuntimeClient,
  type PipelineConfig,
  type PipelineFiles,
  type RegisterCell,
  type StreamListener,
  type WriteOptions,
} from "./client.ts";
export {
  ArbitrationError,
  P4RuntimeError,
  P4RuntimeWriteError,
  SwitchUnreachableError,
  type UpdateFailure,
} from "./errors.ts";
export {
  type ActionInfo,
  type CounterInfo,
  type DigestInfo,
  type DirectCounterInfo,
  type MatchFieldInfo,
  type MatchType,
  NameIndex,
  P4Info,
  type P4InfoJson,
  type ParamInfo,
  type RegisterInfo,
  type TableInfo,
} from "./p4info.ts";
export {
  buildMatch,
  buildParams,
  buildTableEntry,
  type DecodedEntry,
  decodeTableEntry,
  entryKey,
  type EntrySpec,
  type MatchInput,
  type MatchRead,
  tableUpdate,
} from "./entries.ts";
export {
  type BitValue,
  canonicalBytes,
  decodeNumber,
  decodeValue,
  encodeLpm,
  encodeRange,
  encodeTernary,
  encodeValue,
  EncodingError,
  toBigInt,
} from "./encoding.ts";
export {
  Atomicity,
  Code,
  codeName,
  type Entity,
  PipelineAction,
  PipelineResponseType,
  type TableEntry,
  type Update,
  UpdateType,
} from "./messages.ts";
export { type BenchOptions, benchP4Runtime, type BenchResult } from "./bench.ts";
export { TRANSPORT_KINDS, type TransportKind } from "./transport/types.ts";
export { RpcError } from "./transport/status.ts";
