/**
 * Test labs: a lab from lab/ with a unique name (`p4t-<rand>`) and id (`t<rand>`) so tests never
 * collide with a user's lab or each other, and a temporary run root.
 */
import { parseLabText } from "../../lib/lab/parse.ts";
import { labDefinitionsDir } from "../../lib/lab/paths.ts";
import type { Lab } from "../../lib/lab/types.ts";

export interface TestLab {
  lab: Lab;
  runRoot: string;
  /** The lab text as written to `lab.file`. */
  text: string;
}

/** Four random lower-case letters/digits. */
export function randomTag(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 4);
}

/** Loads lab/<base>.yaml under a unique name and id; `edit` may change the text first. */
export async function testLab(
  base: string,
  edit: (text: string) => string = (t) => t,
): Promise<TestLab> {
  const tag = randomTag();
  const runRoot = await Deno.makeTempDir({ prefix: "p4t-runs-" });
  const text = edit(
    (await Deno.readTextFile(`${labDefinitionsDir()}/${base}.yaml`))
      .replace(/^name: .*$/m, `name: p4t-${tag}`)
      .replace(/^id: .*$/m, `id: t${tag}`),
  );
  const file = `${runRoot}/p4t-${tag}.yaml`;
  await Deno.writeTextFile(file, text);
  return { lab: parseLabText(text, file, { runRoot }), runRoot, text };
}

/** A command's stdout, or "" when it fails or is missing (for listings that may be empty). */
export async function output(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout);
  } catch {
    return "";
  }
}

/**
 * Everything of the lab the machine still has, as `ip`/`podman` list it: netns, links, pods,
 * containers and networks named with the lab's prefix or labelled with its name, and switch
 * processes bound to its interfaces. Empty when the lab left no trace.
 */
export async function leftovers(lab: Lab, podman = true): Promise<string[]> {
  const prefix = `${lab.id}-`;
  const found: string[] = [];
  for (const line of (await output("ip", ["netns", "list"])).split("\n")) {
    if (line.startsWith(prefix)) found.push(`netns ${line.split(" ")[0]}`);
  }
  for (const line of (await output("ip", ["-o", "link", "show"])).split("\n")) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name?.startsWith(prefix)) found.push(`link ${name}`);
  }
  if (podman) {
    const label = `p4cf.lab:${lab.name}`;
    const lists: [string, string[]][] = [
      ["container", ["ps", "-a", "--format", "{{.Names}} {{.Labels}}"]],
      ["pod", ["pod", "ls", "--format", "{{.Name}} {{.Labels}}"]],
      ["network", ["network", "ls", "--format", "{{.Name}} {{.Labels}}"]],
    ];
    for (const [kind, args] of lists) {
      for (const line of (await output("podman", args)).split("\n")) {
        if (line.startsWith(prefix) || line.includes(label)) found.push(`${kind} ${line}`);
      }
    }
  }
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = (() => {
      try {
        return Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      } catch {
        return "";
      }
    })();
    if (cmdline.includes(`@${prefix}`) && cmdline.includes("simple_switch")) {
      found.push(`process ${entry.name}: ${cmdline}`);
    }
  }
  return found;
}

/** Runs a command and returns its stdout (throws on failure). */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Gives every switch of a lab text unique high gRPC/Thrift ports (tests run beside other labs). */
export function uniqueSwitchPorts(text: string): string {
  // Below the kernel's ephemeral range (32768-60999), where no outgoing connection holds them.
  let port = 20000 + Math.floor(Math.random() * 6000) * 2;
  return text.replace(/^ {2}(s\d+): \{\s*\}$/gm, (_m, sw) => {
    const line = `  ${sw}: { grpc_port: ${port}, thrift_port: ${port + 1} }`;
    port += 2;
    return line;
  });
}
