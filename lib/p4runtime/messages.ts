/**
 * TypeScript shapes of the P4Runtime messages in proto/, as {@link ./proto.ts} encodes and decodes
 * them: field names in the proto's snake_case, 64-bit integers as decimal strings, bytes as
 * Uint8Array, enums as numbers, and for each oneof a string property naming the member that is set
 * (present on decoded messages only). Repeated fields are always arrays on decoded messages.
 *
 * @module
 */

/** A uint64/int64 field: decimal text, so no precision is lost. */
export type Int64 = string;

/** google.rpc.Code values. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const codeNames = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v, k]));

/** The name of a google.rpc.Code value ("NOT_FOUND"), or the number as text. */
export function codeName(code: number): string {
  return codeNames.get(code) ?? String(code);
}

/** Update.Type. */
export const UpdateType = { UNSPECIFIED: 0, INSERT: 1, MODIFY: 2, DELETE: 3 } as const;
export type UpdateType = (typeof UpdateType)[keyof typeof UpdateType];

/** WriteRequest.Atomicity. */
export const Atomicity = {
  CONTINUE_ON_ERROR: 0,
  ROLLBACK_ON_ERROR: 1,
  DATAPLANE_ATOMIC: 2,
} as const;
export type Atomicity = (typeof Atomicity)[keyof typeof Atomicity];

/** SetForwardingPipelineConfigRequest.Action. */
export const PipelineAction = {
  UNSPECIFIED: 0,
  VERIFY: 1,
  VERIFY_AND_SAVE: 2,
  VERIFY_AND_COMMIT: 3,
  COMMIT: 4,
  RECONCILE_AND_COMMIT: 5,
} as const;
export type PipelineAction = (typeof PipelineAction)[keyof typeof PipelineAction];

/** GetForwardingPipelineConfigRequest.ResponseType. */
export const PipelineResponseType = {
  ALL: 0,
  COOKIE_ONLY: 1,
  P4INFO_AND_COOKIE: 2,
  DEVICE_CONFIG_AND_COOKIE: 3,
} as const;
export type PipelineResponseType = (typeof PipelineResponseType)[keyof typeof PipelineResponseType];

export interface Uint128 {
  high: Int64;
  low: Int64;
}

export interface Any {
  type_url: string;
  /** Absent when empty (e.g. a packed empty message). */
  value?: Uint8Array;
}

export interface RpcStatus {
  code?: number;
  message?: string;
  details?: Any[];
}

/** p4.v1.Error: the status of one update of a Write. */
export interface P4Error {
  canonical_code?: number;
  message?: string;
  space?: string;
  code?: number;
  details?: Any;
}

export interface FieldMatch {
  field_id: number;
  exact?: { value: Uint8Array };
  ternary?: { value: Uint8Array; mask: Uint8Array };
  lpm?: { value: Uint8Array; prefix_len: number };
  range?: { low: Uint8Array; high: Uint8Array };
  optional?: { value: Uint8Array };
  field_match_type?: "exact" | "ternary" | "lpm" | "range" | "optional";
}

export interface ActionParam {
  param_id: number;
  value: Uint8Array;
}

export interface Action {
  action_id: number;
  params?: ActionParam[];
}

export interface ActionProfileAction {
  action: Action;
  weight?: number;
  watch_port?: Uint8Array;
}

export interface TableAction {
  action?: Action;
  action_profile_member_id?: number;
  action_profile_group_id?: number;
  action_profile_action_set?: { action_profile_actions: ActionProfileAction[] };
  type?:
    | "action"
    | "action_profile_member_id"
    | "action_profile_group_id"
    | "action_profile_action_set";
}

export interface CounterData {
  byte_count?: Int64;
  packet_count?: Int64;
}

export interface TableEntry {
  table_id: number;
  match?: FieldMatch[];
  action?: TableAction;
  priority?: number;
  counter_data?: CounterData;
  is_default_action?: boolean;
  idle_timeout_ns?: Int64;
  metadata?: Uint8Array;
  is_const?: boolean;
}

export interface Index {
  index: Int64;
}

export interface CounterEntry {
  counter_id: number;
  index?: Index;
  data?: CounterData;
}

export interface DirectCounterEntry {
  table_entry: TableEntry;
  data?: CounterData;
}

export interface P4Data {
  bitstring?: Uint8Array;
  bool?: boolean;
  tuple?: { members: P4Data[] };
  struct?: { members: P4Data[] };
  data?: "bitstring" | "bool" | "tuple" | "struct";
}

export interface RegisterEntry {
  register_id: number;
  index?: Index;
  data?: P4Data;
}

export interface DigestEntry {
  digest_id: number;
  config?: { max_timeout_ns?: Int64; max_list_size?: number; ack_timeout_ns?: Int64 };
}

export interface Entity {
  table_entry?: TableEntry;
  counter_entry?: CounterEntry;
  direct_counter_entry?: DirectCounterEntry;
  register_entry?: RegisterEntry;
  digest_entry?: DigestEntry;
  entity?:
    | "table_entry"
    | "counter_entry"
    | "direct_counter_entry"
    | "register_entry"
    | "digest_entry";
}

export interface Update {
  type: UpdateType;
  entity: Entity;
}

export interface WriteRequest {
  device_id: Int64;
  election_id?: Uint128;
  updates: Update[];
  atomicity?: Atomicity;
  role?: string;
}

export interface ReadRequest {
  device_id: Int64;
  entities: Entity[];
  role?: string;
}

export interface ReadResponse {
  entities: Entity[];
}

export interface MasterArbitrationUpdate {
  device_id: Int64;
  role?: { name?: string };
  election_id?: Uint128;
  status?: RpcStatus;
}

export interface PacketMetadata {
  metadata_id: number;
  value: Uint8Array;
}

export interface PacketOut {
  payload: Uint8Array;
  metadata?: PacketMetadata[];
}

export interface PacketIn {
  payload: Uint8Array;
  metadata?: PacketMetadata[];
}

export interface DigestList {
  digest_id: number;
  list_id: Int64;
  data?: P4Data[];
  timestamp?: Int64;
}

export interface DigestListAck {
  digest_id: number;
  list_id: Int64;
}

export interface StreamError {
  canonical_code?: number;
  message?: string;
  space?: string;
  code?: number;
}

export interface StreamMessageRequest {
  arbitration?: MasterArbitrationUpdate;
  packet?: PacketOut;
  digest_ack?: DigestListAck;
}

export interface StreamMessageResponse {
  arbitration?: MasterArbitrationUpdate;
  packet?: PacketIn;
  digest?: DigestList;
  error?: StreamError;
  update?: "arbitration" | "packet" | "digest" | "error";
}

export interface ForwardingPipelineConfig {
  /** Binary P4Info (a serialized p4.config.v1.P4Info). */
  p4info?: Uint8Array;
  /** Target-specific configuration: BMv2's JSON. */
  p4_device_config?: Uint8Array;
  cookie?: { cookie: Int64 };
}

export interface SetForwardingPipelineConfigRequest {
  device_id: Int64;
  election_id?: Uint128;
  action: PipelineAction;
  config: ForwardingPipelineConfig;
  role?: string;
}

export interface GetForwardingPipelineConfigRequest {
  device_id: Int64;
  response_type?: PipelineResponseType;
}

export interface GetForwardingPipelineConfigResponse {
  config?: ForwardingPipelineConfig;
}

export interface CapabilitiesResponse {
  p4runtime_api_version?: string;
}

// deno-lint-ignore ban-types
export type Empty = {};
