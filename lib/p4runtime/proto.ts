/**
 * Loads the project's P4Runtime protos (proto/) once and exposes what the client and the test
 * fixtures need: the gRPC service definition and codecs for the messages carried outside RPCs
 * (google.rpc.Status in the `grpc-status-details-bin` trailer, p4.v1.Error inside it).
 *
 * Conventions (see {@link ./messages.ts}): snake_case field names, 64-bit integers as strings,
 * bytes as Uint8Array, enums as numbers, oneof member names as virtual properties.
 *
 * @module
 */
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import type {
  CapabilitiesResponse,
  Empty,
  Entity,
  GetForwardingPipelineConfigRequest,
  GetForwardingPipelineConfigResponse,
  P4Error,
  ReadRequest,
  ReadResponse,
  RpcStatus,
  SetForwardingPipelineConfigRequest,
  StreamMessageRequest,
  StreamMessageResponse,
  Update,
  WriteRequest,
} from "./messages.ts";

/** Directory holding proto/p4/v1/p4runtime.proto and its imports. */
export const PROTO_DIR: string = fileURLToPath(new URL("../../proto/", import.meta.url));

/** The type URL of a p4.v1.Error packed in a google.protobuf.Any. */
export const P4_ERROR_TYPE_URL = "type.googleapis.com/p4.v1.Error";

/** Encoder and decoder of one message type. */
export interface Codec<T> {
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** The P4Runtime service's methods, typed by request and response. */
export interface P4RuntimeMethods {
  Write: MethodDefinition<WriteRequest, Empty>;
  Read: MethodDefinition<ReadRequest, ReadResponse>;
  SetForwardingPipelineConfig: MethodDefinition<SetForwardingPipelineConfigRequest, Empty>;
  GetForwardingPipelineConfig: MethodDefinition<
    GetForwardingPipelineConfigRequest,
    GetForwardingPipelineConfigResponse
  >;
  StreamChannel: MethodDefinition<StreamMessageRequest, StreamMessageResponse>;
  Capabilities: MethodDefinition<Empty, CapabilitiesResponse>;
}

export interface P4RuntimeProto {
  /** For grpc-js: `server.addService(proto.service, impl)` or `client.makeUnaryRequest(...)`. */
  service: ServiceDefinition & P4RuntimeMethods;
  status: Codec<RpcStatus>;
  error: Codec<P4Error>;
  /** One entity of a ReadResponse (the client decodes them one at a time). */
  entity: Codec<Entity>;
  /** One update of a WriteRequest (the client encodes them one at a time). */
  update: Codec<Update>;
  /** A WriteRequest; the client encodes it without updates and appends them (see wire.ts). */
  writeRequest: Codec<WriteRequest>;
}

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  // enums stay numbers (the default); bytes stay Buffers, which are Uint8Arrays.
  defaults: false,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let loaded: P4RuntimeProto | undefined;

/** The loaded protos (parsed on first call, then cached). */
export function p4runtimeProto(): P4RuntimeProto {
  if (loaded) return loaded;
  const pkg = protoLoader.loadSync("p4/v1/p4runtime.proto", LOADER_OPTIONS);
  const service = pkg["p4.v1.P4Runtime"] as unknown as ServiceDefinition & P4RuntimeMethods;
  loaded = {
    service,
    status: codec<RpcStatus>(pkg["google.rpc.Status"]),
    error: codec<P4Error>(pkg["p4.v1.Error"]),
    entity: codec<Entity>(pkg["p4.v1.Entity"]),
    update: codec<Update>(pkg["p4.v1.Update"]),
    writeRequest: codec<WriteRequest>(pkg["p4.v1.WriteRequest"]),
  };
  return loaded;
}

function codec<T>(def: protoLoader.AnyDefinition): Codec<T> {
  const msg = def as unknown as protoLoader.MessageTypeDefinition<T, T>;
  return {
    encode: (message) => msg.serialize(message),
    decode: (bytes) => msg.deserialize(bytes as Buffer),
  };
}
