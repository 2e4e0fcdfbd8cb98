/** tasks/command.ts: one clear error, with a did-you-mean, for each kind of wrong argument. */
import assert from "node:assert/strict";
import { UserError } from "../lib/errors.ts";
import { didYouMean, parseCommandArgs, wantsHelp } from "../tasks/command.ts";
import { runTimeoutS } from "../tasks/test.ts";

const LAB = {
  options: {
    "topology-only": { type: "boolean" },
    pcap: { type: "boolean" },
    kubeconfig: { type: "string" },
  },
  verbs: ["list", "up", "down", "status", "exec", "check"],
} as const;

function refused(args: string[], command: Parameters<typeof parseCommandArgs>[1] = LAB): UserError {
  try {
    parseCommandArgs("lab", command, args);
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    // Never Node's own message, whose quotes do not pair up.
    assert.doesNotMatch(err.message, /To specify a positional argument|'/);
    return err;
  }
  assert.fail(`accepted ${args.join(" ")}`);
}

Deno.test("unknown options: named, with the nearest known one", () => {
  const err = refused(["up", "--topolgy-only", "x"]);
  assert.equal(err.message, "lab: unknown option --topolgy-only");
  assert.equal(err.hint, "did you mean --topology-only? (see `deno task lab --help`)");
  assert.match(refused(["up", "--zzz"]).hint!, /its options are --topology-only, --pcap/);
  assert.match(refused(["--x"], {}).hint!, /it takes no options/);
  assert.equal(refused(["up", "-q"]).message, "lab: unknown option -q");
});

Deno.test("options missing their value, or given one they do not take", () => {
  assert.equal(
    refused(["up", "x", "--kubeconfig"]).message,
    "lab: option --kubeconfig needs a value",
  );
  assert.equal(
    refused(["up", "--pcap=yes", "x"]).message,
    "lab: option --pcap takes no value (--pcap=yes)",
  );
});

Deno.test("verbs: missing or unknown, with a did-you-mean", () => {
  assert.equal(refused([]).message, "lab: which verb?");
  assert.match(refused([]).hint!, /verbs are list, up, down, status, exec, check/);
  const err = refused(["dwon", "process-migration"]);
  assert.equal(err.message, 'lab: unknown verb "dwon"');
  assert.equal(err.hint, 'did you mean "down"? (see `deno task lab --help`)');
  assert.equal(refused(["statsu"]).hint, 'did you mean "status"? (see `deno task lab --help`)');
});

Deno.test("arguments after -- are passed through, and --help there is not ours", () => {
  const parsed = parseCommandArgs("lab", LAB, ["exec", "pm", "h1", "--", "ls", "--help", "-x"]);
  assert.deepEqual(parsed.positionals, ["exec", "pm", "h1", "ls", "--help", "-x"]);
  assert.deepEqual(parsed.passthrough, ["ls", "--help", "-x"]);
  assert.equal(wantsHelp(["exec", "pm", "h1", "--", "ls", "--help"]), false);
  assert.equal(wantsHelp(["up", "-h"]), true);
  const values = parseCommandArgs("lab", LAB, ["up", "--pcap", "--kubeconfig", "k", "x"]).values;
  assert.deepEqual({ ...values }, { pcap: true, kubeconfig: "k" });
});

Deno.test("did-you-mean: small edits and swapped letters", () => {
  const names = [
    "demo",
    "lab",
    "migrate",
    "controller",
    "build",
    "doctor",
    "test",
    "bench",
    "check",
  ];
  assert.equal(didYouMean("tets", names), "test");
  assert.equal(didYouMean("doctr", names), "doctor");
  assert.equal(didYouMean("benhc", names), "bench");
  assert.equal(didYouMean("xyzzy", names), undefined);
});

Deno.test("test --timeout: seconds, from the option, P4CF_TEST_TIMEOUT_S or the default", () => {
  assert.equal(runTimeoutS("90", "10"), 90);
  assert.equal(runTimeoutS(undefined, "10"), 10);
  assert.equal(runTimeoutS(undefined, undefined), 1800);
  assert.equal(runTimeoutS("0", undefined), undefined);
  assert.throws(
    () => runTimeoutS("soon", undefined),
    /--timeout "soon" is not a number of seconds/,
  );
});
