/** A real BMv2 starter for tests: simple_switch_grpc without a P4 program (pushed later over P4Runtime). */
import { type StartSwitch, switchStarter } from "../../lib/topology/switch_start.ts";

export const bareSwitch: StartSwitch = switchStarter((ctx) => [
  "simple_switch_grpc",
  "--no-p4",
  "--device-id",
  String(ctx.switch.deviceId),
  "--thrift-port",
  String(ctx.switch.thriftPort),
  ...ctx.switch.ports.flatMap((p) => ["-i", `${p.port}@${p.iface}`]),
  "--",
  "--grpc-server-addr",
  `127.0.0.1:${ctx.switch.grpcPort}`,
]);
