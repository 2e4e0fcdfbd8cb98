/**
 * A Shell that simulates the parts of `ip` and `podman` the topology uses, so up/down logic
 * (recording, rollback, idempotency, sweeping) is tested without root. It only models what
 * exists; configuration commands (sysctl, ethtool, addresses) just succeed.
 */
import { CommandError } from "../../lib/errors.ts";
import type { RunOptions, RunResult, Shell } from "../../lib/shell.ts";

export class FakeSystem implements Shell {
  readonly calls: string[] = [];
  readonly netns = new Set<string>();
  /** Root-namespace links -> the namespace their peer lives in ("" = root, with peer name). */
  readonly links = new Map<string, { peer: string; peerNetns: string }>();
  readonly pods = new Map<string, { status: string; infra: string }>();
  readonly containers = new Map<string, string>();
  /** Commands matching this fail (exit 1). */
  failOn?: RegExp;

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const line = argv.join(" ");
    this.calls.push(line);
    const result = this.exec([...argv], line);
    if (options.check !== false && result.code !== 0) {
      return Promise.reject(new CommandError(argv, result.code, result.stdout, result.stderr));
    }
    return Promise.resolve(result);
  }

  private exec(a: string[], line: string): RunResult {
    const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
    const fail = (stderr: string): RunResult => ({ code: 1, stdout: "", stderr });
    if (this.failOn?.test(line)) return fail(`injected failure: ${line}`);
    if (a[0] === "nsenter") {
      const ns = a[1].replace("--net=/run/netns/", "");
      return this.netns.has(ns)
        ? ok()
        : fail(`nsenter: cannot open /run/netns/${ns}: No such file or directory`);
    }
    if (a[0] === "ip" && a[1] === "netns") {
      const name = a[3];
      switch (a[2]) {
        case "add":
        case "attach":
          if (this.netns.has(name)) {
            return fail(`Cannot create namespace file "/run/netns/${name}": File exists`);
          }
          this.netns.add(name);
          return ok();
        case "del":
          if (!this.netns.delete(name)) {
            return fail(
              `Cannot remove namespace file "/run/netns/${name}": No such file or directory`,
            );
          }
          for (const [link, p] of this.links) if (p.peerNetns === name) this.links.delete(link);
          return ok();
        case "list":
          return ok([...this.netns].map((n) => `${n}\n`).join(""));
        case "pids":
          return ok();
      }
    }
    if (a[0] === "ip" && a[1] === "-o" && a[2] === "link") {
      const names = [
        ...this.links.keys(),
        ...[...this.links.values()].filter((p) => !p.peerNetns).map((p) => p.peer),
      ];
      return ok(
        ["1: lo: <LOOPBACK,UP>", ...names.map((n, i) => `${i + 2}: ${n}@if9: <BROADCAST>`)].join(
          "\n",
        ),
      );
    }
    if (a[0] === "ip" && a[1] === "-j") return ok("[]");
    if (a[0] === "ip" && a[1] === "link" && a[2] === "add") {
      const netnsAt = a.indexOf("netns");
      const peerNetns = netnsAt > 0 ? a[netnsAt + 1] : "";
      if (peerNetns && !this.netns.has(peerNetns)) return fail(`Invalid "netns" value`);
      if (this.links.has(a[3])) return fail("RTNETLINK answers: File exists");
      this.links.set(a[3], { peer: a[a.indexOf("name") + 1], peerNetns });
      return ok();
    }
    if (a[0] === "ip" && a[1] === "link" && a[2] === "del") {
      const name = a[4];
      if (this.links.delete(name)) return ok();
      for (const [link, p] of this.links) {
        if (!p.peerNetns && p.peer === name) {
          this.links.delete(link);
          return ok();
        }
      }
      return fail(`Cannot find device "${name}"`);
    }
    if (a[0] === "podman") return this.podman(a.slice(1), ok, fail);
    return ok();
  }

  private podman(
    a: string[],
    ok: (s?: string) => RunResult,
    fail: (s: string) => RunResult,
  ): RunResult {
    const names = (from: number) =>
      a.slice(from).filter((x, i, all) => !x.startsWith("-") && all[i - 1] !== "--time");
    if (a[0] === "pod" && a[1] === "create") {
      const name = a[a.indexOf("--name") + 1];
      const infra = a[a.indexOf("--infra-name") + 1];
      if (this.pods.has(name)) {
        return fail(`error adding pod to state: name "${name}" is in use: pod already exists`);
      }
      this.pods.set(name, { status: "Created", infra });
      this.containers.set(infra, "created");
      return ok("0123abcd\n");
    }
    if (a[0] === "pod" && a[1] === "start") {
      const pod = this.pods.get(a[2]);
      if (!pod) return fail(`no pod with name or ID ${a[2]} found: no such pod`);
      pod.status = "Running";
      this.containers.set(pod.infra, "running");
      return ok();
    }
    if (a[0] === "pod" && a[1] === "rm") {
      for (const name of names(2)) {
        const pod = this.pods.get(name);
        if (!pod) return fail(`no pod with name or ID ${name} found: no such pod`);
        this.containers.delete(pod.infra);
        this.pods.delete(name);
      }
      return ok();
    }
    if (a[0] === "pod" && a[1] === "ls") {
      return ok(JSON.stringify([...this.pods].map(([Name, p]) => ({ Name, Status: p.status }))));
    }
    if (a[0] === "ps") {
      return ok(JSON.stringify([...this.containers].map(([n, State]) => ({ Names: [n], State }))));
    }
    if (a[0] === "network" && a[1] === "ls") return ok();
    if (a[0] === "inspect") {
      const state = this.containers.get(a.at(-1)!);
      return state ? ok(state === "running" ? "4242\n" : "0\n") : fail("no such object");
    }
    if (a[0] === "rm") {
      for (const name of names(1)) {
        if (!this.containers.delete(name)) {
          return fail(`no container with name or ID "${name}" found: no such container`);
        }
      }
      return ok();
    }
    return ok();
  }

  /** True when nothing of the lab is left. */
  isEmpty(): boolean {
    return this.netns.size === 0 && this.links.size === 0 && this.pods.size === 0 &&
      this.containers.size === 0;
  }

  describe(): string {
    return JSON.stringify({
      netns: [...this.netns],
      links: [...this.links.keys()],
      pods: [...this.pods.keys()],
      containers: [...this.containers.keys()],
    });
  }
}
