/**
 * Deterministic test connections through the VIP: the grader opens them from chosen source ports,
 * so it knows in advance which slot each one hashes to, and sees on the backends which one
 * received it. The same code therefore gets the same verdict on every run.
 *
 * - {@link slotOf}: the switch's choice, `crc32(src, dst, 6, sport, dport) % slot_count`, exactly
 *   as `p4/lb.p4` computes it (BMv2's crc32 is the usual CRC-32).
 * - {@link testFlows}: a burst of consecutive even source ports (what Linux's `connect()` picks for
 *   a client opening many connections at once), then one odd port for each slot the burst missed.
 * - {@link openFlows}: opens them all from a host (a small Perl client: Perl is part of every
 *   Debian and Ubuntu base system), one request each, and holds them open until closed.
 * - {@link flowsOnBackends}: which backend holds each of them (`ss` in the backends' namespaces).
 *
 * @module
 */
import { parseIpv4 } from "../net/addr.ts";
import { inNetns, type Shell } from "../shell.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected, as zlib and BMv2 compute it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A TCP connection's addresses, as the switch hashes them. */
export interface FiveTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** The bytes `lb.p4` hashes: source, destination, protocol (6), source port, destination port. */
export function tupleBytes(t: FiveTuple): Uint8Array {
  const b = new Uint8Array(13);
  const view = new DataView(b.buffer);
  const addr = (ip: string) => {
    const n = parseIpv4(ip);
    if (n === undefined) throw new RangeError(`"${ip}" is not an IPv4 address`);
    return n;
  };
  view.setUint32(0, addr(t.src));
  view.setUint32(4, addr(t.dst));
  b[8] = 6;
  view.setUint16(9, t.sport);
  view.setUint16(11, t.dport);
  return b;
}

/** The slot a new connection picks: `crc32(5-tuple) % slotCount`. */
export function slotOf(t: FiveTuple, slotCount: number): number {
  return crc32(tupleBytes(t)) % slotCount;
}

/** First source port of the burst: below the ephemeral range, so no client holds it. */
export const FLOW_PORT_BASE = 24000;

/** Connections in the burst. */
export const BURST = 16;

/** One test connection and the slot it hashes to. */
export interface TestFlow {
  sport: number;
  slot: number;
  /** Part of the burst of consecutive even ports (else: an odd port covering a missed slot). */
  burst: boolean;
}

/**
 * The test connections from `src` to `vip:port` for `slotCount` slots: the burst, then the lowest
 * odd port reaching each slot the burst missed (up to 64 slots).
 */
export function testFlows(src: string, vip: string, port: number, slotCount: number): TestFlow[] {
  const tuple = (sport: number) => ({ src, dst: vip, sport, dport: port });
  const flows: TestFlow[] = Array.from({ length: BURST }, (_, k) => {
    const sport = FLOW_PORT_BASE + 2 * k;
    return { sport, slot: slotOf(tuple(sport), slotCount), burst: true };
  });
  const covered = new Set(flows.map((f) => f.slot));
  const wanted = Math.min(slotCount, 64);
  for (
    let sport = FLOW_PORT_BASE + 1;
    covered.size < wanted && sport < FLOW_PORT_BASE + 4000;
    sport += 2
  ) {
    const slot = slotOf(tuple(sport), slotCount);
    if (slot < wanted && !covered.has(slot)) {
      covered.add(slot);
      flows.push({ sport, slot, burst: false });
    }
  }
  return flows;
}

/**
 * The Perl client: connects from every given source port to `vip:port` at once (non-blocking),
 * sends one request line on each connection that opens and waits for one answer line, all within
 * `FLOW_WAIT_S` seconds; prints `flow <sport> ok <answer>` or `flow <sport> fail <reason>` for
 * each, then `ready`; holds the connections open until its stdin closes, and closes them with a
 * reset (no TIME_WAIT, so the next check can use the same ports).
 */
export const FLOW_CLIENT_PERL = `
use strict; use warnings; use IO::Socket::INET; use IO::Select; use Socket; use Time::HiRes qw(time);
$| = 1;
my ($vip, $port, $wait, @sports) = @ARGV;
my (%sock, %state, %buf, %res);
for my $sp (@sports) {
  my $s = IO::Socket::INET->new(PeerAddr => $vip, PeerPort => $port, LocalPort => $sp,
    ReuseAddr => 1, Proto => 'tcp', Blocking => 0);
  if (!$s) { my $e = "$!"; $e =~ s/\\s+/_/g; $res{$sp} = "fail connect:$e"; next; }
  $sock{$sp} = $s; $state{$sp} = 'connecting'; $buf{$sp} = '';
}
my $deadline = time + $wait;
while (time < $deadline) {
  my @pending = grep { !defined $res{$_} } keys %sock;
  last unless @pending;
  my $w = IO::Select->new(map { $sock{$_} } grep { $state{$_} eq 'connecting' } @pending);
  my $r = IO::Select->new(map { $sock{$_} } grep { $state{$_} eq 'waiting' } @pending);
  my ($rr, $ww) = IO::Select->select($r, $w, undef, 0.05);
  for my $sp (@pending) {
    my $s = $sock{$sp};
    if ($state{$sp} eq 'connecting' && $ww && grep { $_ == $s } @$ww) {
      my $err = unpack('i', getsockopt($s, SOL_SOCKET, SO_ERROR));
      if ($err) { local $! = $err; my $e = "$!"; $e =~ s/\\s+/_/g; $res{$sp} = "fail connect:$e"; next; }
      syswrite($s, "probe\\n"); $state{$sp} = 'waiting';
    } elsif ($state{$sp} eq 'waiting' && $rr && grep { $_ == $s } @$rr) {
      my $n = sysread($s, my $chunk, 512);
      if (!$n) { $res{$sp} = 'fail closed'; next; }
      $buf{$sp} .= $chunk;
      if ($buf{$sp} =~ /^([^\\n]*)\\n/) { $res{$sp} = "ok $1"; }
    }
  }
}
for my $sp (@sports) {
  my $r = $res{$sp} // ($state{$sp} eq 'connecting' ? 'fail connect:timeout' : 'fail answer');
  print "flow $sp $r\\n";
}
print "ready\\n";
IO::Select->new(\\*STDIN)->can_read(30);
for my $s (values %sock) { setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)); close $s; }
`;

/** Seconds the Perl client waits for all connections and answers. */
export const FLOW_WAIT_S = 3;

/** The command that runs {@link FLOW_CLIENT_PERL} in a namespace. */
export function flowClientArgv(netns: string, vip: string, port: number, sports: number[]) {
  return inNetns(netns, [
    "perl",
    "-e",
    FLOW_CLIENT_PERL,
    vip,
    String(port),
    String(FLOW_WAIT_S),
    ...sports.map(String),
  ]);
}

/** One flow's outcome at the client. */
export interface FlowAnswer {
  sport: number;
  answered: boolean;
  /** The answer line, or why there was none (`connect:<errno text>`, `answer`). */
  text: string;
}

/** Parses the Perl client's lines. */
export function parseFlowLines(out: string): FlowAnswer[] {
  const answers: FlowAnswer[] = [];
  for (const line of out.split("\n")) {
    const m = /^flow (\d+) (ok|fail) ?(.*)$/.exec(line.trim());
    if (m) answers.push({ sport: Number(m[1]), answered: m[2] === "ok", text: m[3] });
  }
  return answers;
}

/** Flows held open by {@link openFlows}. */
export interface OpenFlows extends AsyncDisposable {
  answers: FlowAnswer[];
  /** Closes them (with resets) and waits for the client to exit. */
  close(): Promise<void>;
}

/**
 * Opens the flows from `netns` and returns once each is answered (or has failed), with all of
 * them still open. This runs the client directly rather than through the Shell: it must be told
 * when to close, after the backends were looked at.
 */
export async function openFlows(
  netns: string,
  vip: string,
  port: number,
  sports: number[],
): Promise<OpenFlows> {
  const argv = flowClientArgv(netns, vip, port, sports);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  let out = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, (FLOW_WAIT_S + 10) * 1000);
  try {
    while (!/^ready$/m.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await writer.close().catch(() => {});
    // Drain what is left so the process can exit.
    (async () => {
      for (;;) {
        const { done } = await reader.read().catch(() => ({ done: true }));
        if (done) break;
      }
    })();
    await child.status;
  };
  return { answers: parseFlowLines(out), close, [Symbol.asyncDispose]: close };
}

/** `ss` listing the established TCP connections (of local `port`, if given), without header. */
export function establishedArgv(port?: number): string[] {
  const argv = ["ss", "-H", "-t", "-n", "state", "established"];
  return port === undefined ? argv : [...argv, `( sport = :${port} )`];
}

/** Peers (`ip:port`) of the connections in `ss -Htn state established` output. */
export function parseEstablishedPeers(out: string): { ip: string; port: number }[] {
  const peers: { ip: string; port: number }[] = [];
  for (const line of out.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const peer = fields.at(-1);
    const m = peer ? /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(peer) : null;
    if (m && fields.length >= 4) peers.push({ ip: m[1], port: Number(m[2]) });
  }
  return peers;
}

/** For each backend host, the client source ports of the flows it holds. */
export async function flowsOnBackends(
  shell: Shell,
  backends: readonly { name: string; netns: string }[],
  clientIp: string,
  port: number,
): Promise<Map<number, string>> {
  const where = new Map<number, string>();
  for (const b of backends) {
    const r = await shell.run(inNetns(b.netns, establishedArgv(port)), { check: false });
    for (const p of parseEstablishedPeers(r.stdout)) {
      if (p.ip === clientIp) where.set(p.port, b.name);
    }
  }
  return where;
}
