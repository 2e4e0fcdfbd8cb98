/**
 * A P4Runtime v1 client for one device: connects (retrying while the switch's gRPC server
 * starts), takes part in primary election on the StreamChannel, pushes pipelines, writes updates
 * in batches with per-update error decoding, reads entities, and offers name-based helpers for
 * table entries, counters and registers through a {@link P4Info}.
 *
 * ```ts
 * await using sw = await P4RuntimeClient.connect({ address: "127.0.0.1:9559", p4info });
 * await sw.setPipeline({ p4infoBinary, bmv2Json });
 * await sw.insertEntry({ table: "lb", match: { dstAddr: "10.0.0.100" }, action: "to_server",
 *   params: { ip: "10.0.1.1" } });
 * ```
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { MethodDefinition } from "@grpc/grpc-js";
import { UserError } from "../errors.ts";
import {
  ArbitrationError,
  P4RuntimeError,
  P4RuntimeWriteError,
  SwitchUnreachableError,
  type UpdateFailure,
} from "./errors.ts";
import { buildTableEntry, type DecodedEntry, decodeTableEntry, type EntrySpec } from "./entries.ts";
import { decodeValue } from "./encoding.ts";
import {
  Atomicity,
  Code,
  codeName,
  type Entity,
  type ForwardingPipelineConfig,
  type MasterArbitrationUpdate,
  PipelineAction,
  PipelineResponseType,
  type StreamMessageRequest,
  type StreamMessageResponse,
  type Uint128,
  type Update,
  UpdateType,
} from "./messages.ts";
import type { P4Info } from "./p4info.ts";
import { P4_ERROR_TYPE_URL, p4runtimeProto } from "./proto.ts";
import { appendRepeated, repeatedField } from "./wire.ts";
import { encodeTableUpdate } from "./update_encoder.ts";
import { createTransport, transportKind } from "./transport/select.ts";
import { RpcError } from "./transport/status.ts";
import type {
  BidiCall,
  BusyPollCounts,
  CallTiming,
  Transport,
  TransportKind,
} from "./transport/types.ts";

/** An election id: a bigint (< 2^128) or its two 64-bit halves. */
export type ElectionId = bigint | { high: bigint | number; low: bigint | number };

export interface ConnectOptions {
  /** `host:port` of the switch's P4Runtime server. */
  address: string;
  /** Device id (simple_switch_grpc `--device-id`, default 0). */
  deviceId?: bigint | number;
  /** Our election id; the highest among connected controllers is primary. Default 1. */
  electionId?: ElectionId;
  /** How long to keep retrying the connection while the switch starts (default 10 s). */
  connectTimeoutMs?: number;
  /** How long to wait for the switch's arbitration answer (default 5 s). */
  arbitrationTimeoutMs?: number;
  /** Deadline of each unary RPC (default 30 s). */
  rpcTimeoutMs?: number;
  /** Throw {@link ArbitrationError} when another controller is primary (default true). */
  requirePrimary?: boolean;
  /** P4Info used by the name-based helpers; may also be set later. */
  p4info?: P4Info;
  /** Path of the switch's log, quoted in the unreachable-switch hint. */
  switchLog?: string;
  /**
   * The gRPC transport: "h2", our own HTTP/2 connection (the default), or "grpc-js". Without
   * it, `P4CF_P4RUNTIME_TRANSPORT` decides.
   */
  transport?: TransportKind;
  /**
   * With the "h2" transport: how long a lone unary call (a MODIFY, one INSERT) busy-polls the
   * socket for its answer before waiting in the event loop, µs. Default `P4CF_BUSY_POLL_US`,
   * else 100; 0 never. It takes the answer as it lands (half off a MODIFY round trip to BMv2)
   * for that much CPU at most; it needs the FFI permission and is off without it.
   */
  busyPollUs?: number;
}

export interface WriteOptions {
  /** Updates per WriteRequest (default 1000). */
  batchSize?: number;
  /** Default CONTINUE_ON_ERROR, the only mode BMv2 implements. */
  atomicity?: Atomicity;
}

export interface PipelineFiles {
  /** Binary P4Info (p4c `--p4runtime-files prog.p4info.bin`). */
  p4infoBinary: Uint8Array;
  /** BMv2 JSON (p4c `-o prog.json`). */
  bmv2Json: Uint8Array | string;
  /** Opaque cookie stored with the pipeline (e.g. a hash of the files). */
  cookie?: bigint;
}

export interface PipelineConfig {
  p4infoBinary?: Uint8Array;
  deviceConfig?: Uint8Array;
  cookie?: bigint;
}

/** A cell of an indirect counter. */
export interface CounterCell {
  index: number;
  bytes: bigint;
  packets: bigint;
}

/** A cell of a register. */
export interface RegisterCell {
  index: number;
  value: bigint;
}

/** Listener for StreamChannel messages other than arbitration (packet-in, digests, errors). */
export type StreamListener = (message: StreamMessageResponse) => void;

const MAX_MESSAGE = 256 * 1024 * 1024;
/** Field numbers of `WriteRequest.updates` and `ReadResponse.entities` (proto/p4/v1). */
const WRITE_REQUEST_UPDATES = 4;
const READ_RESPONSE_ENTITIES = 1;

function toUint128(id: ElectionId): Uint128 {
  if (typeof id === "bigint") {
    if (id < 0n || id >= 1n << 128n) throw new RangeError(`Election id ${id} is not a uint128`);
    return { high: (id >> 64n).toString(), low: (id & 0xffffffffffffffffn).toString() };
  }
  return { high: BigInt(id.high).toString(), low: BigInt(id.low).toString() };
}

function fromUint128(id: Uint128 | undefined): bigint | undefined {
  return id ? (BigInt(id.high ?? 0) << 64n) | BigInt(id.low ?? 0) : undefined;
}

/** A response as proto.ts's deserializers take it (protobufjs decodes any Uint8Array). */
const asBuffer = (bytes: Uint8Array) => bytes as Buffer;

/** A connected, arbitrated P4Runtime session with one device. */
export class P4RuntimeClient implements AsyncDisposable {
  /** P4Info used to resolve names in the helpers. */
  p4info?: P4Info;
  readonly address: string;
  readonly deviceId: bigint;
  readonly electionId: bigint;

  readonly #transport: Transport;
  readonly #proto = p4runtimeProto();
  readonly #deviceIdText: string;
  readonly #election: Uint128;
  readonly #rpcTimeoutMs: number;
  readonly #switchLog?: string;
  readonly #listeners = new Set<StreamListener>();
  readonly #writeHeads = new Map<Atomicity | undefined, Uint8Array>();
  #stream?: BidiCall;
  #primary = false;
  #primaryElectionId?: bigint;
  #streamError?: Error;
  #closed = false;

  private constructor(transport: Transport, options: ConnectOptions) {
    this.#transport = transport;
    this.address = options.address;
    this.deviceId = BigInt(options.deviceId ?? 0);
    this.#deviceIdText = this.deviceId.toString();
    this.#election = toUint128(options.electionId ?? 1n);
    this.electionId = fromUint128(this.#election)!;
    this.#rpcTimeoutMs = options.rpcTimeoutMs ?? 30_000;
    this.#switchLog = options.switchLog;
    this.p4info = options.p4info;
  }

  /**
   * Connects to the switch and runs arbitration. Retries the connection with backoff (50 ms
   * growing to 500 ms) until `connectTimeoutMs`, then throws {@link SwitchUnreachableError}.
   * Throws {@link ArbitrationError} when the switch refuses our election id, or (unless
   * `requirePrimary` is false) when another controller is primary.
   */
  static async connect(options: ConnectOptions): Promise<P4RuntimeClient> {
    const transport = createTransport(transportKind(options.transport), options.address, {
      maxMessage: MAX_MESSAGE,
      busyPollUs: options.busyPollUs,
    });
    const client = new P4RuntimeClient(transport, options);
    try {
      await client.#waitForReady(options.connectTimeoutMs ?? 10_000);
      await client.#arbitrate(options.arbitrationTimeoutMs ?? 5_000);
      if (!client.#primary && options.requirePrimary !== false) {
        throw new ArbitrationError(
          `Another controller is primary for device ${client.deviceId} at ${client.address} ` +
            `(its election id ${client.#primaryElectionId ?? "?"} > ours ${client.electionId})`,
          Code.ALREADY_EXISTS,
          client.#primaryElectionId,
          {
            hint: "stop the other controller, or connect with a higher election id " +
              "(or requirePrimary: false to stay a backup)",
          },
        );
      }
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /**
   * How the "h2" transport's busy-polls ended so far: answers taken while polling, and polls
   * whose budget ran out (undefined with grpc-js). Both 0 when busy-polling is off.
   */
  get busyPolls(): BusyPollCounts | undefined {
    return this.#transport.busyPollCounts?.();
  }

  /**
   * When the last unary RPC's request went out and its answer came in, with the "h2" transport
   * (undefined with grpc-js): the rest of a call's time is the client's own.
   */
  get lastCallTiming(): CallTiming | undefined {
    return this.#transport.lastUnaryTiming?.();
  }

  /** The transport in use ("h2" or "grpc-js"). */
  get transport(): TransportKind {
    return this.#transport.kind;
  }

  async #waitForReady(timeoutMs: number): Promise<void> {
    const started = Date.now();
    try {
      await this.#transport.waitForReady(timeoutMs);
    } catch (err) {
      if (err instanceof RpcError && err.code !== Code.UNAVAILABLE) {
        throw new P4RuntimeError(
          `${this.address} does not speak gRPC over HTTP/2: ${err.details}`,
          err.code,
          {
            hint: "is this the switch's P4Runtime (gRPC) port, not its Thrift port or another " +
              "service?",
            cause: err,
          },
        );
      }
      throw new SwitchUnreachableError(this.address, Date.now() - started, {
        switchLog: this.#switchLog,
        cause: err,
      });
    }
  }

  #arbitrate(timeoutMs: number): Promise<void> {
    const channel = this.#proto.service.StreamChannel;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        err ? reject(err) : resolve();
      };
      const timer = setTimeout(() => {
        settle(
          new ArbitrationError(
            `No arbitration answer from ${this.address} within ${timeoutMs} ms`,
            Code.DEADLINE_EXCEEDED,
            undefined,
            { hint: `is device id ${this.deviceId} right? see the switch log` },
          ),
        );
      }, timeoutMs);
      const onMessage = (bytes: Uint8Array) => {
        const msg = channel.responseDeserialize(asBuffer(bytes));
        if (msg.arbitration) {
          this.#onArbitration(msg.arbitration);
          settle();
        } else {
          for (const listener of this.#listeners) listener(msg);
        }
      };
      const onError = (err: Error) => {
        this.#primary = false;
        if (this.#closed) return;
        this.#streamError = err;
        const code = err instanceof RpcError ? err.code : Code.UNKNOWN;
        settle(
          new ArbitrationError(
            `Arbitration with ${this.address} failed: ${codeName(code)}: ${
              err instanceof RpcError ? err.details : err.message
            }`,
            code,
            undefined,
            {
              hint: code === Code.INVALID_ARGUMENT
                ? "another controller uses the same election id; pick a different one"
                : "see the switch log",
              cause: err,
            },
          ),
        );
      };
      this.#stream = this.#transport.bidi(channel.path, {
        onMessage,
        onEnd: (err) => {
          if (err) return onError(err);
          this.#primary = false;
          settle(new ArbitrationError(`${this.address} closed the stream`, Code.UNAVAILABLE));
        },
      });
      this.#stream.write(channel.requestSerialize({
        arbitration: { device_id: this.#deviceIdText, election_id: this.#election },
      }));
    });
  }

  #onArbitration(update: MasterArbitrationUpdate): void {
    this.#primaryElectionId = fromUint128(update.election_id);
    this.#primary = (update.status?.code ?? Code.OK) === Code.OK;
  }

  /** True while the switch considers us the primary controller. */
  get isPrimary(): boolean {
    return this.#primary;
  }

  /** The primary's election id as last reported by the switch. */
  get primaryElectionId(): bigint | undefined {
    return this.#primaryElectionId;
  }

  /** Registers a listener for packet-in, digest and stream-error messages; returns unsubscribe. */
  onStreamMessage(listener: StreamListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends a StreamChannel message (packet-out, digest ack). */
  sendStreamMessage(message: StreamMessageRequest): void {
    if (!this.#stream || this.#closed) {
      throw new P4RuntimeError("Stream is closed", Code.UNAVAILABLE);
    }
    this.#stream.write(this.#proto.service.StreamChannel.requestSerialize(message));
  }

  #rpcError(what: string, err: unknown): P4RuntimeError {
    if (!(err instanceof RpcError)) {
      return new P4RuntimeError(`${what} failed: ${String(err)}`, Code.UNKNOWN, { cause: err });
    }
    if (err.code === Code.UNAVAILABLE) {
      return new SwitchUnreachableError(this.address, 0, {
        switchLog: this.#switchLog,
        cause: err,
      });
    }
    const hints: Partial<Record<number, string>> = {
      [Code.PERMISSION_DENIED]: "we are not the primary controller (see isPrimary)",
      [Code.FAILED_PRECONDITION]: "push a pipeline first (setPipeline)",
    };
    return new P4RuntimeError(`${what} failed: ${codeName(err.code)}: ${err.details}`, err.code, {
      hint: hints[err.code] ??
        (this.#streamError ? `stream error: ${this.#streamError.message}` : undefined),
      cause: err,
    });
  }

  async #unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req): Promise<Res> {
    const response = await this.#transport.unary(
      method.path,
      method.requestSerialize(request),
      this.#rpcTimeoutMs,
    );
    return method.responseDeserialize(asBuffer(response));
  }

  /** Pushes a pipeline (P4Info + BMv2 JSON) with VERIFY_AND_COMMIT; clears all table state. */
  async setPipeline(files: PipelineFiles): Promise<void> {
    const config: ForwardingPipelineConfig = {
      p4info: files.p4infoBinary,
      p4_device_config: typeof files.bmv2Json === "string"
        ? new TextEncoder().encode(files.bmv2Json)
        : files.bmv2Json,
    };
    if (files.cookie !== undefined) config.cookie = { cookie: files.cookie.toString() };
    try {
      await this.#unary(this.#proto.service.SetForwardingPipelineConfig, {
        device_id: this.#deviceIdText,
        election_id: this.#election,
        action: PipelineAction.VERIFY_AND_COMMIT,
        config,
      });
    } catch (err) {
      throw this.#rpcError("SetForwardingPipelineConfig", err);
    }
  }

  /** The pipeline on the switch (FAILED_PRECONDITION when none was pushed). */
  async getPipeline(
    responseType: PipelineResponseType = PipelineResponseType.ALL,
  ): Promise<PipelineConfig> {
    try {
      const res = await this.#unary(this.#proto.service.GetForwardingPipelineConfig, {
        device_id: this.#deviceIdText,
        response_type: responseType,
      });
      const c = res.config ?? {};
      return {
        p4infoBinary: c.p4info,
        deviceConfig: c.p4_device_config,
        cookie: c.cookie ? BigInt(c.cookie.cookie ?? 0) : undefined,
      };
    } catch (err) {
      throw this.#rpcError("GetForwardingPipelineConfig", err);
    }
  }

  /** The P4Runtime API version the switch implements. */
  async capabilities(): Promise<string> {
    try {
      const res = await this.#unary(this.#proto.service.Capabilities, {});
      return res.p4runtime_api_version ?? "";
    } catch (err) {
      throw this.#rpcError("Capabilities", err);
    }
  }

  /**
   * Writes updates, `batchSize` per request, in order. Every batch is sent even when one fails;
   * then a {@link P4RuntimeWriteError} lists each failed update by its index in `updates`.
   */
  write(updates: readonly Update[], options: WriteOptions = {}): Promise<void> {
    return this.writeEach(updates.length, (i) => updates[i], options);
  }

  /**
   * {@link write} of the `count` updates `updateAt(0)`, `updateAt(1)`, …, each batch made and
   * encoded while the switch applies the one before: a large write whose updates are computed
   * (10,000 entries built from names) then costs the switch's time and hardly more. `updateAt`
   * is called again for an update that failed, to report it.
   */
  writeEach(
    count: number,
    updateAt: (index: number) => Update,
    options: WriteOptions = {},
  ): Promise<void> {
    const codec = this.#proto.update;
    const encodeRange = (start: number, end: number) => {
      const out = new Array<Uint8Array>(end - start);
      for (let i = start; i < end; i++) {
        const update = updateAt(i);
        out[i - start] = encodeTableUpdate(update) ?? codec.encode(update);
      }
      return out;
    };
    return this.#writeBatches(count, encodeRange, updateAt, options);
  }

  /**
   * Sends `n` updates in batches, each batch one WriteRequest framed from updates encoded one by
   * one (see wire.ts): `encodeRange` encodes updates [start, end), `updateAt` gives back the
   * update of a failure.
   */
  async #writeBatches(
    n: number,
    encodeRange: (start: number, end: number) => readonly Uint8Array[],
    updateAt: (index: number) => Update,
    options: WriteOptions,
  ): Promise<void> {
    const batchSize = Math.max(1, options.batchSize ?? 1000);
    const head = this.#writeHead(options.atomicity);
    const frame = (start: number) =>
      appendRepeated(
        head,
        WRITE_REQUEST_UPDATES,
        encodeRange(start, Math.min(n, start + batchSize)),
      );
    const path = this.#proto.service.Write.path;
    const failures: UpdateFailure[] = [];
    let failCode: number = Code.OK;
    let failMessage = "";
    let next = n ? frame(0) : undefined;
    for (let start = 0; start < n; start += batchSize) {
      // The response is an empty message: nothing to decode.
      const pending = this.#transport.unary(path, next!, this.#rpcTimeoutMs);
      // Encode the next batch while the switch applies this one; it is sent only after this one
      // is answered, so batches are applied in order. Let the transport send this one first:
      // encoding straight away held it back and left the switch idle meanwhile (measured
      // 60-77k entries/s against 81-89k).
      next = undefined;
      if (start + batchSize < n) {
        pending.catch(() => {}); // Awaited below; handled meanwhile.
        await this.#transport.sent();
        next = frame(start + batchSize);
      }
      try {
        await pending;
      } catch (err) {
        if (!(err instanceof RpcError) || err.code === Code.UNAVAILABLE) {
          throw this.#rpcError("Write", err);
        }
        const perUpdate = this.#decodeUpdateErrors(err, start, updateAt);
        if (!perUpdate) throw this.#rpcError("Write", err);
        failures.push(...perUpdate);
        failCode = err.code;
        failMessage = err.details;
      }
    }
    if (failCode !== Code.OK) {
      throw new P4RuntimeWriteError(failures, n, failCode, failMessage);
    }
  }

  /** A WriteRequest without updates, encoded once per atomicity (it is the same every time). */
  #writeHead(atomicity: Atomicity | undefined): Uint8Array {
    let head = this.#writeHeads.get(atomicity);
    if (!head) {
      head = this.#proto.writeRequest.encode({
        device_id: this.#deviceIdText,
        election_id: this.#election,
        updates: [],
        atomicity,
      });
      this.#writeHeads.set(atomicity, head);
    }
    return head;
  }

  /** Per-update failures from `grpc-status-details-bin`, or undefined when there are none. */
  #decodeUpdateErrors(
    err: RpcError,
    offset: number,
    updateAt: (index: number) => Update,
  ): UpdateFailure[] | undefined {
    const raw = err.statusDetails;
    if (!raw) return undefined;
    const status = this.#proto.status.decode(raw);
    const failures: UpdateFailure[] = [];
    (status.details ?? []).forEach((any, i) => {
      // An update that succeeded is an empty Error (BMv2 sends one for every update).
      if (any.type_url !== P4_ERROR_TYPE_URL || !any.value?.length) return;
      const e = this.#proto.error.decode(any.value);
      const code = e.canonical_code ?? Code.OK;
      if (code === Code.OK) return;
      const update = updateAt(offset + i);
      const tableId = update?.entity.table_entry?.table_id;
      failures.push({
        index: offset + i,
        code,
        codeName: codeName(code),
        message: e.message ?? "",
        update,
        table: tableId === undefined ? undefined : this.p4info?.tables.byId(tableId)?.name,
      });
    });
    return failures.length ? failures : undefined;
  }

  /**
   * Reads entities (wildcards allowed, as in P4Runtime), yielding them as the switch streams.
   * Each entity is decoded only when it is yielded, so a caller that keeps a digest of each (as
   * {@link readTable} does) never holds a whole large response as message objects.
   */
  async *read(entities: readonly Entity[]): AsyncGenerator<Entity> {
    const read = this.#proto.service.Read;
    const call = this.#transport.serverStream(
      read.path,
      read.requestSerialize({ device_id: this.#deviceIdText, entities: entities as Entity[] }),
      this.#rpcTimeoutMs,
    );
    const codec = this.#proto.entity;
    try {
      for await (const response of call) {
        for (const bytes of repeatedField(response, READ_RESPONSE_ENTITIES)) {
          yield codec.decode(bytes);
        }
      }
    } catch (err) {
      throw this.#rpcError("Read", err);
    } finally {
      await call.return(undefined);
    }
  }

  async #readAll(entities: readonly Entity[]): Promise<Entity[]> {
    const out: Entity[] = [];
    for await (const e of this.read(entities)) out.push(e);
    return out;
  }

  #info(): P4Info {
    if (!this.p4info) {
      throw new UserError("This P4Runtime client has no P4Info to resolve names", {
        hint: "pass p4info to P4RuntimeClient.connect or set client.p4info",
      });
    }
    return this.p4info;
  }

  /**
   * Writes named entries with one update type, in batches (see {@link write}). Every entry is
   * built and encoded before the first is sent, so a bad one writes nothing.
   */
  async writeEntries(
    type: UpdateType,
    specs: readonly EntrySpec[],
    options?: WriteOptions,
  ): Promise<void> {
    const info = this.#info();
    const needAction = type !== UpdateType.DELETE;
    const updateAt = (i: number): Update => ({
      type,
      entity: { table_entry: buildTableEntry(info, specs[i], needAction) },
    });
    const codec = this.#proto.update;
    const encoded = new Array<Uint8Array>(specs.length);
    for (let i = 0; i < specs.length; i++) {
      const update = updateAt(i);
      encoded[i] = encodeTableUpdate(update) ?? codec.encode(update);
    }
    const encodeRange = (start: number, end: number) =>
      end - start === encoded.length ? encoded : encoded.slice(start, end);
    await this.#writeBatches(encoded.length, encodeRange, updateAt, options ?? {});
  }

  /** Inserts one entry given by names. */
  insertEntry(spec: EntrySpec): Promise<void> {
    return this.writeEntries(UpdateType.INSERT, [spec]);
  }

  /** Modifies the action of one entry (or the default action with `isDefault`). */
  modifyEntry(spec: EntrySpec): Promise<void> {
    return this.writeEntries(UpdateType.MODIFY, [spec]);
  }

  /** Deletes one entry; only table, match and priority are needed. */
  deleteEntry(spec: EntrySpec): Promise<void> {
    return this.writeEntries(UpdateType.DELETE, [spec]);
  }

  /** Every entry of a table (with direct counter values when `withCounters`). */
  async readTable(
    table: string,
    options: { withCounters?: boolean } = {},
  ): Promise<DecodedEntry[]> {
    const info = this.#info();
    const t = info.table(table);
    const out: DecodedEntry[] = [];
    const query = { table_id: t.id, ...(options.withCounters ? { counter_data: {} } : {}) };
    for await (const e of this.read([{ table_entry: query }])) {
      if (e.table_entry) out.push(decodeTableEntry(info, e.table_entry));
    }
    return out;
  }

  /** Cells of an indirect counter: one when `index` is given, else all. */
  async readCounter(name: string, index?: number): Promise<CounterCell[]> {
    const c = this.#info().counter(name);
    const entities = await this.#readAll([{
      counter_entry: {
        counter_id: c.id,
        ...(index === undefined ? {} : { index: { index: String(index) } }),
      },
    }]);
    return entities.flatMap((e) =>
      e.counter_entry
        ? [{
          index: Number(e.counter_entry.index?.index ?? 0),
          bytes: BigInt(e.counter_entry.data?.byte_count ?? 0),
          packets: BigInt(e.counter_entry.data?.packet_count ?? 0),
        }]
        : []
    ).sort((a, b) => a.index - b.index);
  }

  /** Cells of a bit<W> register: one when `index` is given, else all. */
  async readRegister(name: string, index?: number): Promise<RegisterCell[]> {
    const r = this.#info().register(name);
    let entities: Entity[];
    try {
      entities = await this.#readAll([{
        register_entry: {
          register_id: r.id,
          ...(index === undefined ? {} : { index: { index: String(index) } }),
        },
      }]);
    } catch (err) {
      if (!(err instanceof P4RuntimeError) || err.code !== Code.UNIMPLEMENTED) throw err;
      throw new P4RuntimeError(`Reading register "${r.name}" failed: ${err.message}`, err.code, {
        hint: "BMv2's P4Runtime server does not implement register reads; use its Thrift CLI: " +
          `\`simple_switch_CLI --thrift-port <port>\` then \`register_read ${r.name} <index>\``,
        cause: err,
      });
    }
    return entities.flatMap((e) =>
      e.register_entry
        ? [{
          index: Number(e.register_entry.index?.index ?? 0),
          value: decodeValue(e.register_entry.data?.bitstring),
        }]
        : []
    ).sort((a, b) => a.index - b.index);
  }

  /** Ends the stream (giving up primary) and the channel. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#primary = false;
    this.#listeners.clear();
    this.#stream?.cancel();
    this.#transport.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
