"""The P4Runtime peer of `deno task bench peers`: the workload of lib/p4runtime/bench.ts, run
from Python grpcio (C-core gRPC) with stubs generated at bench time from the project's proto/.

Usage: python3 p4runtime_peer.py STUB_DIR CONFIG_JSON     runs the workload, prints JSON
       python3 p4runtime_peer.py STUB_DIR CONFIG_JSON I   prints the hex of the i-th INSERT update
                                                          (tests compare it with ours)

CONFIG_JSON (written by lib/bench/peers_p4runtime.ts): address, device_id, election_id,
table_id, match_ids [dst, port], action_id, param_ids [ip, port], and the counts of
lib/p4runtime/bench.ts (modify_iterations, warmup, batched_rounds, insert_count, batch_size,
single_insert_count). Entry building is inside the timed part, as on our side.
"""
import json
import queue
import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc  # noqa: E402

cfg = json.loads(sys.argv[2])
TABLE = cfg["table_id"]
F_DST, F_PORT = cfg["match_ids"]
ACTION = cfg["action_id"]
P_IP, P_PORT = cfg["param_ids"]
INSERT, MODIFY, DELETE = (p4runtime_pb2.Update.INSERT, p4runtime_pb2.Update.MODIFY,
                          p4runtime_pb2.Update.DELETE)


def canon(n):
    """Canonical bytestring: no leading zero bytes, 0 is one zero byte."""
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def update(kind, i, params_of=None):
    """The i-th entry of lib/bench/controller_memory.ts (vipMatch, vipParams) as an Update."""
    u = p4runtime_pb2.Update(type=kind)
    e = u.entity.table_entry
    e.table_id = TABLE
    m = e.match.add()
    m.field_id = F_DST
    m.exact.value = canon(0x0A000000 + (i >> 16))
    m = e.match.add()
    m.field_id = F_PORT
    m.exact.value = canon(i & 0xFFFF)
    if kind != DELETE:
        p = i if params_of is None else params_of
        a = e.action.action
        a.action_id = ACTION
        q = a.params.add()
        q.param_id = P_IP
        q.value = canon(0x0A000101 + p % 2)
        q = a.params.add()
        q.param_id = P_PORT
        q.value = canon(8080)
    return u


if len(sys.argv) > 3:
    print(update(INSERT, int(sys.argv[3])).SerializeToString().hex())
    sys.exit(0)

big = 256 * 1024 * 1024
channel = grpc.insecure_channel(cfg["address"], options=[
    ("grpc.max_send_message_length", big), ("grpc.max_receive_message_length", big)])
stub = p4runtime_pb2_grpc.P4RuntimeStub(channel)
election = p4runtime_pb2.Uint128(high=0, low=cfg["election_id"])
device = cfg["device_id"]

# Arbitration on the StreamChannel, kept open for the whole run.
requests = queue.Queue()
requests.put(p4runtime_pb2.StreamMessageRequest(
    arbitration=p4runtime_pb2.MasterArbitrationUpdate(device_id=device, election_id=election)))
stream = stub.StreamChannel(iter(requests.get, None))
first = next(stream)
if first.arbitration.status.code != 0:
    sys.exit(f"not primary: {first.arbitration.status}")


def write(updates):
    req = p4runtime_pb2.WriteRequest(device_id=device, election_id=election)
    req.updates.extend(updates)
    stub.Write(req)


def batched(kind, n, size):
    for start in range(0, n, size):
        write([update(kind, i) for i in range(start, min(n, start + size))])


n, size = cfg["insert_count"], cfg["batch_size"]
warmup = cfg["warmup"]
if warmup > 0:
    batched(INSERT, n, size)
    batched(DELETE, n, size)

write([update(INSERT, 0)])
modify_ms = []
cpu = 0.0
for i in range(warmup + cfg["modify_iterations"]):
    if i == warmup:
        # CPU of the whole process, every thread (C-core's too), as on our side.
        cpu = time.process_time()
    t0 = time.perf_counter()
    write([update(MODIFY, 0, i & 1)])
    if i >= warmup:
        modify_ms.append((time.perf_counter() - t0) * 1000)
cpu = time.process_time() - cpu
write([update(DELETE, 0)])

insert_ms, delete_ms = [], []
for _ in range(max(1, cfg["batched_rounds"])):
    t0 = time.perf_counter()
    batched(INSERT, n, size)
    insert_ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    batched(DELETE, n, size)
    delete_ms.append((time.perf_counter() - t0) * 1000)

single = cfg["single_insert_count"]
t0 = time.perf_counter()
for i in range(single):
    write([update(INSERT, i)])
single_ms = (time.perf_counter() - t0) * 1000
batched(DELETE, single, size)

requests.put(None)
channel.close()
print(json.dumps({
    "grpcio": grpc.__version__,
    "modifyMs": modify_ms,
    "modifyCpuUs": cpu * 1e6 / cfg["modify_iterations"],
    "batchedInsertMs": insert_ms,
    "batchedDeleteMs": delete_ms,
    "singleInsertMs": single_ms,
}))
