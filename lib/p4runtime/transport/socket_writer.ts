/**
 * Writes to a socket with coalescing: what is queued in one turn of the event loop leaves in one
 * `write` (a call's frames, an acknowledgement and a WINDOW_UPDATE together), and writes never
 * interleave. Deno's socket writes make their system call at once, so {@link flush} puts queued
 * bytes on the wire before the caller goes on with CPU work.
 *
 * @module
 */
import { concatBytes } from "../../bytes.ts";

export class SocketWriter {
  #out: Uint8Array[] = [];
  #scheduled = false;
  #writing?: Promise<void>;
  #failed = false;

  /** `onError` is told once when a write fails; later writes are dropped. */
  constructor(
    readonly socket: { write(bytes: Uint8Array): Promise<number> },
    readonly onError: (err: Error) => void,
  ) {}

  /** True while bytes are queued or being written. */
  get busy(): boolean {
    return this.#out.length > 0 || this.#writing !== undefined;
  }

  /** Queues bytes; they are written at the end of this turn (or by {@link flush}). */
  queue(...parts: Uint8Array[]): void {
    if (this.#failed) return;
    for (const p of parts) this.#out.push(p);
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /**
   * Queues bytes and starts writing at once, without waiting for the end of the turn: for a
   * request, whose bytes are all there (a microtask per write cost more than the rest of the
   * writer, measured).
   */
  send(bytes: Uint8Array): void {
    if (this.#failed) return;
    this.#out.push(bytes);
    if (!this.#writing) this.flush();
  }

  /** Starts writing what is queued now; resolves when everything queued so far is written. */
  flush(): Promise<void> {
    this.#scheduled = false;
    if (!this.#writing && this.#out.length) this.#writing = this.#writeOut();
    return this.#writing ?? Promise.resolve();
  }

  async #writeOut(): Promise<void> {
    try {
      while (this.#out.length) {
        const parts = this.#out;
        this.#out = [];
        const buf = parts.length === 1 ? parts[0] : concatBytes(parts);
        let off = 0;
        while (off < buf.length) off += await this.socket.write(buf.subarray(off));
      }
    } catch (err) {
      this.#out = [];
      this.#failed = true;
      this.onError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#writing = undefined;
    }
  }
}
