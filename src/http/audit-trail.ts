/**
 * The audit trail's writer (CAAS_AUDIT_LOG): one JSON line per audited request, written before
 * its answer leaves (audit.ts decides which requests and what each line says).
 *
 * Fail closed: an answer waits for its line to be written (write() returned), and a request
 * whose line is not written is answered 503 audit_unavailable instead of its result, so a line
 * and its answer always agree; /readyz says 503 until a write succeeds again. Lines are
 * group-committed: those of every request settled within one turn of the event loop go out in
 * one write() of whole lines (O_APPEND, so workers sharing the file never interleave), and each
 * of those requests is answered after it. One write() per request cost 40% of the oracle's
 * throughput (bench/load.ts, oracle-audit). The event loop never waits on a write: standard
 * output read slowly holds lines in a bounded queue, and past it requests are refused.
 */
import { AuditUnavailable, type RequestErrorCode } from "../errors.ts";
import { AppendFailed, type Appender } from "../files/append-file.ts";
import type { Logger } from "../log.ts";

export type AuditOutcomeCode = RequestErrorCode | "internal";

/** One line of the trail, in the order its fields are written. */
export interface AuditEntry {
  /** caas's own id for the request, unique (request-ids.ts). */
  readonly requestId: string;
  /** The client's X-Request-Id, when it sent a safe one: neither unique nor to be trusted, but what the client knows. */
  readonly clientRequestId: string | undefined;
  readonly traceId: string | undefined;
  readonly client: string | undefined;
  readonly apiKeyName: string | undefined;
  readonly operation: string;
  readonly keyName: string | undefined;
  readonly keyVersion: number | undefined;
  readonly keyVersions: readonly number[] | undefined;
  readonly items: number | undefined;
  readonly status: number;
  readonly code: AuditOutcomeCode | undefined;
}

/** What the log line says of a failed write or reopen: the appender's errno, else the error's class, never its message. */
function errnoOf(error: unknown): string {
  if (error instanceof AppendFailed) return error.errno;
  return error instanceof Error ? error.name : "unknown";
}

/** A request's line waiting to be written, and how its request learns whether it was. */
interface QueuedLine {
  readonly text: string;
  /** performance.now() when it was queued. */
  readonly queuedAt: number;
  readonly settle: (written: boolean) => void;
}

/**
 * Bytes of lines waiting to be written, or being written, past which a new line is refused at once
 * (503) instead of waiting: a reader of standard output that stalls holds the lines, never the
 * process. About 3,000 lines.
 */
export const AUDIT_QUEUE_BYTES = 1024 * 1024;

/**
 * Longest a line waits behind a write that has not finished (a stalled standard output) before it
 * is withdrawn and its request answered 503: under the listener's idle timeout (10 s), which would
 * otherwise cut the connection of a request whose line is then written as answered.
 */
export const AUDIT_WAIT_MS = 5_000;

export interface AuditTrailOptions {
  readonly logger?: Logger;
  readonly now?: () => Date;
  readonly queueBytes?: number;
  readonly waitMs?: number;
}

/**
 * The trail itself: writes lines, one write at a time, each of every line queued meanwhile (up to
 * the sink's chunkBytes); knows whether writing is failing, and tries again (first reopening the
 * file) when asked while failing. A trail without a sink (CAAS_AUDIT_LOG unset) takes every line
 * and writes none.
 */
export class AuditTrail {
  readonly #sink: Appender | undefined;
  readonly #logger: Logger | undefined;
  readonly #now: () => Date;
  readonly #queueBytes: number;
  readonly #waitMs: number;
  #failingSince: string | undefined;
  /** Lines waiting for the next write, oldest first. */
  #queue: QueuedLine[] = [];
  /** A write of the queue is due at the end of this turn of the event loop. */
  #due = false;
  /** Bytes of the lines queued and being written. */
  #queued = 0;
  #writing = false;
  /** Lines were withdrawn from behind the write under way. */
  #stalled = false;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** Requests answered 503 audit_unavailable since the trail started failing. */
  #refused = 0;
  #writeFailures = 0;

  constructor(sink?: Appender, options: AuditTrailOptions = {}) {
    this.#sink = sink;
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
    this.#queueBytes = options.queueBytes ?? AUDIT_QUEUE_BYTES;
    this.#waitMs = options.waitMs ?? AUDIT_WAIT_MS;
  }

  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** Writes that failed or did not finish in time since start, retries included: what the metrics page reports. */
  get writeFailures(): number {
    return this.#writeFailures;
  }

  /**
   * Queues the entry's line for the next group write: resolves once it is written, rejects with
   * AuditUnavailable when it is not (the write failed, or cut it short; the queue is full; it
   * waited too long). Undefined when there is no sink (nothing to wait for).
   */
  record(entry: AuditEntry): Promise<void> | undefined {
    if (this.#sink === undefined) return undefined;
    const text = `${JSON.stringify({ time: this.#now().toISOString(), ...entry })}\n`;
    // Once lines had to be withdrawn, a new one would only wait as long: refused at once until the write finishes.
    if (this.#queued + text.length > this.#queueBytes || (this.#writing && this.#stalled)) {
      this.#refuse(1, "queue_full");
      return Promise.reject(new AuditUnavailable());
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ text, queuedAt: performance.now(), settle: (written) => (written ? resolve() : reject(new AuditUnavailable())) });
    this.#queued += text.length;
    if (!this.#due) {
      this.#due = true;
      setImmediate(() => {
        this.#due = false;
        this.#write("lines");
      });
    }
    return promise;
  }

  /**
   * Writes the queued lines in one append (as many as the sink's chunkBytes allows), unless a
   * write is under way: then they wait for it. The trail's own lines go first: that the file was
   * re-created, or that writing resumed after a failure. For a readiness "probe", those are
   * written even with no request's line waiting; for "lines", only with one.
   */
  #write(asked: "lines" | "probe"): void {
    const sink = this.#sink;
    if (sink === undefined || (this.#queue.length === 0 && asked === "lines")) return;
    if (this.#writing) {
      this.#armDeadline();
      return;
    }
    const taken = this.#take(sink.chunkBytes ?? Number.POSITIVE_INFINITY);
    const notes: string[] = [];
    try {
      if (this.#failingSince !== undefined) sink.reopen();
      else if (sink.replaceIfDeleted?.() === true) {
        notes.push(this.#note("audit.recreated", {}));
        this.#logger?.warn("audit_recreated", { hint: "the audit file was deleted; a new one was created at its path" });
      }
    } catch (error) {
      this.#failed(error);
      this.#settle(taken, 0);
      return;
    }
    const gap = this.#failingSince === undefined ? undefined : { failingSince: this.#failingSince, refused: this.#refused };
    if (gap !== undefined) notes.push(this.#note("audit.resumed", gap));
    if (notes.length === 0 && taken.length === 0) return;
    this.#writing = true;
    sink.append([...notes, ...taken.map((line) => line.text)], (written, error) => {
      this.#writing = false;
      this.#stalled = false;
      if (gap !== undefined && written >= notes.length) this.#resumed(gap);
      if (error !== undefined) this.#failed(error);
      this.#settle(taken, written - notes.length);
      this.#write("lines");
    });
    // Lines left behind a write that has not finished wait no longer than the deadline, whether or not more arrive.
    if (this.#writing && this.#queue.length > 0) this.#armDeadline();
  }

  /** The oldest queued lines, as many as fit in `bytes` (at least one). */
  #take(bytes: number): QueuedLine[] {
    let count = 0;
    let size = 0;
    for (const line of this.#queue) {
      if (count > 0 && size + line.text.length > bytes) break;
      size += line.text.length;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }

  /** Answers the requests of `lines`, of which the first `written` were written. */
  #settle(lines: readonly QueuedLine[], written: number): void {
    for (const [index, line] of lines.entries()) {
      this.#queued -= line.text.length;
      line.settle(index < written);
    }
    const refused = lines.length - Math.max(0, written);
    if (refused > 0) this.#refused += refused;
  }

  /** Lines that cannot wait any longer behind a write that has not finished are withdrawn, and their requests refused. */
  #armDeadline(): void {
    const first = this.#queue[0];
    if (this.#deadline !== undefined || first === undefined) return;
    this.#deadline = setTimeout(
      () => {
        this.#deadline = undefined;
        const cutoff = performance.now() - this.#waitMs;
        const expired = this.#queue.findIndex((line) => line.queuedAt > cutoff);
        const withdrawn = this.#queue.splice(0, expired < 0 ? this.#queue.length : expired);
        if (withdrawn.length > 0) {
          this.#settle(withdrawn, 0);
          this.#stalled = true;
          this.#refuse(0, "stalled");
        }
        if (this.#writing) this.#armDeadline();
      },
      Math.max(0, first.queuedAt + this.#waitMs - performance.now()),
    );
    this.#deadline.unref();
  }

  #note(operation: string, fields: Readonly<Record<string, string | number>>): string {
    return `${JSON.stringify({ time: this.#now().toISOString(), operation, ...fields })}\n`;
  }

  /**
   * Whether lines can be written now. Never waits on a write: while one is under way the answer is
   * what is known. Otherwise it checks that the file is still there (re-creating it if it was
   * deleted) and, while failing, tries once more (readiness probes are how a trail left without
   * traffic recovers).
   */
  ready(): boolean {
    if (this.#sink === undefined) return true;
    if (!this.#writing) this.#write("probe");
    return this.#failingSince === undefined;
  }

  /** SIGHUP after a rotation: new lines go to a new file at the path. A failure keeps the old file and is logged. */
  reopen(): void {
    if (this.#sink === undefined) return;
    try {
      this.#sink.reopen();
      this.#logger?.info("audit_reopened", {});
    } catch (error) {
      this.#logger?.error("audit_reopen_failed", { errno: errnoOf(error), hint: "lines still go to the file opened before" });
    }
  }

  #resumed(gap: { readonly failingSince: string; readonly refused: number }): void {
    this.#logger?.info("audit_resumed", gap);
    this.#refused -= gap.refused;
    // Refusals since the resumed line was handed on start a gap of their own.
    this.#failingSince = this.#refused > 0 ? this.#now().toISOString() : undefined;
  }

  #failed(error: unknown): void {
    this.#writeFailures += 1;
    if (this.#failingSince !== undefined) return;
    this.#failingSince = this.#now().toISOString();
    this.#logger?.error("audit_write_failed", {
      errno: errnoOf(error),
      hint: "requests to audited routes are answered 503 audit_unavailable and /readyz 503 until a write succeeds",
    });
  }

  /** Refused without a write failing: the writes under way are not finishing (a stalled standard output). */
  #refuse(requests: number, reason: "queue_full" | "stalled"): void {
    this.#refused += requests;
    const starting = this.#failingSince === undefined;
    // Counted with the failed writes, which the alert on caas_audit_write_failures_total watches: each
    // time lines are withdrawn (a write that did not finish in time), and a queue found full.
    if (starting || reason === "stalled") this.#writeFailures += 1;
    if (!starting) return;
    this.#failingSince = this.#now().toISOString();
    this.#logger?.error("audit_stalled", {
      reason,
      hint: "the audit trail's writes are not finishing (a reader of standard output that stalls?): requests to audited routes are answered 503 audit_unavailable and /readyz 503 until they do",
    });
  }
}
