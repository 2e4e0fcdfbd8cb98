/**
 * A controller service over a fake switch in one process, for the signal test:
 * `serve_fake.ts <runDir> <p4infoJson> <p4infoBin> <bmv2Json>`. Writes `<runDir>/lab.json`, serves
 * until SIGTERM/SIGINT, then stops the fake and exits 0.
 */
import { startControllerService } from "../../../lib/controller/http.ts";
import { startFakes } from "../_fake.ts";
import { oneSwitchLab } from "../_lab.ts";

const [runDir, p4infoJson, p4infoBinary, bmv2Json] = Deno.args;
const paths = { p4infoJson, p4infoBinary, bmv2Json };
const fakes = await startFakes(paths, [0]);
const lab = oneSwitchLab(runDir, fakes.ports[0]);
const service = await startControllerService(lab, { pipeline: paths, verifySwitchOwner: false });
await Deno.writeTextFile(`${runDir}/lab.json`, JSON.stringify(lab));
await service.stopped;
await fakes.stop();
console.log("stopped cleanly");
