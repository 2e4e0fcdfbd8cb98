/**
 * Reads counter_client's JSON lines and measures the downtime a migration caused.
 *
 * Downtime is the span from the last answer before the outage to the first answer after which
 * answers flow at the normal pace again. It is deliberately not the longest single gap: the
 * restored socket retransmits a reply that was in flight at dump time, and that reply can arrive
 * in the middle of the outage and split it in two (a 503 ms outage seen as gaps of 269 and 234
 * ms). Such an answer is not followed by normally paced answers, so it does not end the outage.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** One answered request. Times are unix milliseconds. */
export interface ClientAnswer {
  kind: "answer";
  /** When the request was sent. */
  t: number;
  conn: number;
  seq: number;
  latencyMs: number;
  /** The connection's counter as the server reported it. */
  count: number;
  /** When the answer arrived (t + latencyMs). */
  at: number;
}

/** How a connection failed. `error` covers errnos other than reset and timeout. */
export type ClientEventKind = "reset" | "closed" | "timeout" | "connect_failed" | "error";

/** A connection failure; the client never reconnects, so this is the connection's last record. */
export interface ClientEvent {
  kind: "event";
  t: number;
  conn: number;
  event: ClientEventKind;
  errno: number;
}

export type ClientRecord = ClientAnswer | ClientEvent;

const EVENT_KINDS: readonly string[] = ["reset", "closed", "timeout", "connect_failed", "error"];

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** Removes Podman's k8s-file prefix (`<time> stdout F `) from a container log line. */
export function stripContainerLogPrefix(line: string): string {
  return line.replace(/^\S+ (?:stdout|stderr) [FP] /, "");
}

/**
 * The JSON lines of a workload's log, whatever its kind: a process's output as is, a container's
 * k8s-file log with Podman's line prefixes removed. Other lines (messages) are dropped.
 */
export function clientJsonLines(text: string): string[] {
  return text.split("\n").map(stripContainerLogPrefix).filter((l) => l.startsWith("{"));
}

/** {@link parseClientLog} of a workload's log file text (see {@link clientJsonLines}). */
export function parseWorkloadLog(text: string, source: string): ClientRecord[] {
  return parseClientLog(clientJsonLines(text).join("\n"), source);
}

/**
 * Parses the client's output. A truncated last line (the client killed mid-write) is ignored;
 * any other malformed line is an error naming the line.
 */
export function parseClientLog(text: string, source = "client log"): ClientRecord[] {
  const lines = text.split("\n");
  const records: ClientRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const isLast = i === lines.length - 1;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      if (isLast) break;
      throw new UserError(`Cannot parse ${source}: line ${i + 1} is not JSON: ${line}`, {
        cause: err,
      });
    }
    const bad = (what: string) =>
      new UserError(`Cannot parse ${source}: line ${i + 1} ${what}: ${line}`, {
        hint: "the file must be the output of counter_client",
      });
    if (!isNum(obj.t) || !isNum(obj.conn)) throw bad("lacks numeric t and conn");
    if (typeof obj.event === "string") {
      if (!EVENT_KINDS.includes(obj.event)) throw bad(`has unknown event "${obj.event}"`);
      records.push({
        kind: "event",
        t: obj.t,
        conn: obj.conn,
        event: obj.event as ClientEventKind,
        errno: isNum(obj.errno) ? obj.errno : 0,
      });
    } else {
      if (!isNum(obj.seq) || !isNum(obj.latency_ms) || !isNum(obj.count)) {
        throw bad("lacks numeric seq, latency_ms and count");
      }
      records.push({
        kind: "answer",
        t: obj.t,
        conn: obj.conn,
        seq: obj.seq,
        latencyMs: obj.latency_ms,
        count: obj.count,
        at: obj.t + obj.latency_ms,
      });
    }
  }
  return records;
}

export interface DowntimeOptions {
  /** Unix ms when the migration began; the outage is searched from the last answer before it. */
  migrationStartMs?: number;
  /** Consecutive normally paced answers that mark the end of the outage (default 5). */
  stableCount?: number;
  /** A gap is abnormal above this multiple of the normal interval (default 3)... */
  toleranceFactor?: number;
  /** ...and above the normal interval plus this many ms (default 5), whichever is larger. */
  minToleranceMs?: number;
  /**
   * Unix ms when logging stopped (default: the latest record of any connection). A connection
   * silent for longer than its threshold before this is in an outage that never ended.
   */
  endMs?: number;
}

export interface ConnectionDowntime {
  conn: number;
  answers: number;
  /** Median interval between answers before the migration (or over the whole log). */
  normalIntervalMs: number;
  /** Gaps above this are abnormal. */
  thresholdMs: number;
  /** Arrival of the last answer before the outage; undefined when there was no outage. */
  outageStartMs?: number;
  /** Arrival of the first answer after which answers flowed normally again. */
  recoveredAtMs?: number;
  /** recoveredAt - outageStart; up to the end of the log when the connection never recovered. */
  downtimeMs: number;
  /** The abnormal gaps inside the outage, in order (more than one when a reply split it). */
  outageGapsMs: number[];
  /** The connection failed (see `event`). */
  broken: boolean;
  event?: ClientEvent;
  /** Every answer's count was the previous request's plus one (in the order they were sent). */
  countContinuous: boolean;
}

export interface DowntimeReport {
  connections: ConnectionDowntime[];
  /** The worst connection's downtime. */
  maxDowntimeMs: number;
  /** From the earliest outage start to the latest recovery over all connections (0: none). */
  spanMs: number;
  anyBroken: boolean;
  brokenConnections: number[];
  countsContinuous: boolean;
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Downtime of one connection's answers (sorted by arrival). */
function connectionDowntime(
  conn: number,
  answers: ClientAnswer[],
  event: ClientEvent | undefined,
  options: DowntimeOptions,
): ConnectionDowntime {
  const at = answers.map((a) => a.at);
  const gaps = at.slice(1).map((x, i) => x - at[i]);
  const start = options.migrationStartMs;
  // The first answer searched is the last one that arrived before the migration began.
  let from = 0;
  if (start !== undefined) {
    const before = at.filter((x) => x <= start).length;
    from = Math.max(0, before - 1);
  }
  const baseline = start !== undefined && from >= 3 ? gaps.slice(0, from) : gaps;
  const normal = median(baseline);
  const threshold = Math.max(
    normal * (options.toleranceFactor ?? 3),
    normal + (options.minToleranceMs ?? 5),
  );
  const stable = options.stableCount ?? 5;
  // In the order the requests were sent: an answer's arrival is its send time plus a latency
  // the client measures on another clock, and in an emulated VM two answers a few ms apart can
  // swap places by it (seen: 0.6 ms).
  const bySent = [...answers].sort((a, b) => a.t - b.t);
  let countContinuous = true;
  for (let i = 1; i < bySent.length; i++) {
    if (bySent[i].count !== bySent[i - 1].count + 1) countContinuous = false;
  }
  const base = {
    conn,
    answers: answers.length,
    normalIntervalMs: normal,
    thresholdMs: threshold,
    broken: event !== undefined,
    event,
    countContinuous,
  };

  // The outage is the one around the longest abnormal gap after the start, not the first: the
  // server may serve on for a while after the migration began (a container is frozen only once
  // Podman has started CRIU), and a loaded machine's jitter there can exceed the threshold. It
  // begins at the earliest abnormal gap not separated from the longest by `stable` normal ones.
  let outageStart = -1;
  for (let i = from; i < gaps.length; i++) {
    if (gaps[i] > threshold && (outageStart < 0 || gaps[i] > gaps[outageStart])) outageStart = i;
  }
  for (let i = outageStart - 1, normalRun = 0; outageStart >= 0 && i >= from; i--) {
    if (gaps[i] > threshold) {
      outageStart = i;
      normalRun = 0;
    } else if (++normalRun >= stable) break;
  }
  if (outageStart < 0) {
    // No abnormal gap between answers; but a connection that broke, or went silent before the
    // log ended, is in an outage that lasts until the end.
    const last = at[at.length - 1];
    const endMs = event ? event.t : options.endMs;
    if (answers.length && endMs !== undefined && endMs - last > threshold) {
      return { ...base, outageStartMs: last, downtimeMs: endMs - last, outageGapsMs: [] };
    }
    return { ...base, downtimeMs: 0, outageGapsMs: [] };
  }

  // Recovery: the first answer followed by `stable` normal gaps (or by only normal gaps until
  // the log ends, when fewer remain).
  let recovered = -1;
  for (let j = outageStart + 1; j < at.length; j++) {
    const after = gaps.slice(j, j + stable);
    if (after.every((g) => g <= threshold) && (after.length === stable || !event)) {
      recovered = j;
      break;
    }
  }
  const end = recovered >= 0 ? recovered : at.length - 1;
  const outageGaps = gaps.slice(outageStart, end).filter((g) => g > threshold);
  const startMs = at[outageStart];
  if (recovered < 0) {
    const last = at[at.length - 1];
    const endMs = Math.max(last, event?.t ?? options.endMs ?? last);
    return {
      ...base,
      outageStartMs: startMs,
      downtimeMs: endMs - startMs,
      outageGapsMs: outageGaps,
    };
  }
  return {
    ...base,
    outageStartMs: startMs,
    recoveredAtMs: at[recovered],
    downtimeMs: at[recovered] - startMs,
    outageGapsMs: outageGaps,
  };
}

/** Measures downtime per connection and overall from parsed client records. */
export function computeDowntime(
  records: readonly ClientRecord[],
  options: DowntimeOptions = {},
): DowntimeReport {
  const byConn = new Map<number, { answers: ClientAnswer[]; event?: ClientEvent }>();
  for (const r of records) {
    const entry = byConn.get(r.conn) ?? { answers: [] };
    byConn.set(r.conn, entry);
    if (r.kind === "answer") entry.answers.push(r);
    else entry.event ??= r;
  }
  const endMs = options.endMs ??
    Math.max(...records.map((r) => r.kind === "answer" ? r.at : r.t));
  const connections = [...byConn.entries()]
    .sort(([a], [b]) => a - b)
    .map(([conn, { answers, event }]) =>
      connectionDowntime(conn, [...answers].sort((a, b) => a.at - b.at), event, {
        ...options,
        endMs,
      })
    );
  const starts = connections.flatMap((c) => c.outageStartMs ?? []);
  const ends = connections.flatMap((c) =>
    c.outageStartMs === undefined ? [] : [c.outageStartMs + c.downtimeMs]
  );
  const broken = connections.filter((c) => c.broken).map((c) => c.conn);
  return {
    connections,
    maxDowntimeMs: Math.max(0, ...connections.map((c) => c.downtimeMs)),
    spanMs: starts.length ? Math.max(...ends) - Math.min(...starts) : 0,
    anyBroken: broken.length > 0,
    brokenConnections: broken,
    countsContinuous: connections.every((c) => c.countContinuous),
  };
}
