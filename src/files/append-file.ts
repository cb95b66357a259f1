/**
 * Where whole records are appended, in order: a file (AppendFile) or standard output
 * (StdoutAppender). Either tells, once the records are with the kernel, how many of them were
 * taken whole, so a caller never counts a record that was cut short or never written.
 *
 * A file is opened with O_APPEND, so several processes appending to one file (caas --workers N)
 * never overwrite or interleave each other's records, and reopened by path on request, so a file
 * renamed away (log rotation) is followed by a new one at the path. Its writes are synchronous:
 * write() has returned when append() calls back. There is no fsync: a record survives a crash of
 * caas, not one of the machine.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { CaasError } from "../errors.ts";
import { errnoCode } from "./errno.ts";

/** Why an append failed: the errno name (ENOSPC, EBADF...), nothing of the record. */
export class AppendFailed extends CaasError {
  readonly code = "append_failed";
  constructor(readonly errno: string) {
    super(`append failed (${errno})`);
  }
}

/** Told how many of the records were taken whole (a prefix of them), and, when not all, why. */
export type Appended = (written: number, error?: AppendFailed) => void;

/** What the audit trail (http/audit-trail.ts) writes its lines to. */
export interface Appender {
  /** The most bytes one append should take, for an appender whose writes may not finish (standard output); no bound when absent. */
  readonly chunkBytes?: number;
  /** Appends `records` (each a whole line) in order, and calls `done` once, never before they are with the kernel. */
  append(records: readonly string[], done: Appended): void;
  /** Opens the path anew (after a rotation, or a failure); throws AppendFailed and keeps the old one when it cannot. */
  reopen(): void;
  /** For a file: opens the path anew when the file written to was deleted; true when it did, throws AppendFailed when it cannot. */
  replaceIfDeleted?(): boolean;
}

function errnoOf(error: unknown): string {
  return errnoCode(error) ?? "unknown";
}

/** How many of `records`, in order, fit whole in the first `bytes` bytes of their concatenation in UTF-8, and the bytes of those. */
function wholeRecordsIn(records: readonly string[], bytes: number): { readonly count: number; readonly length: number } {
  let count = 0;
  let length = 0;
  for (const record of records) {
    const recordBytes = Buffer.byteLength(record, "utf8");
    if (length + recordBytes > bytes) break;
    length += recordBytes;
    count += 1;
  }
  return { count, length };
}

export class AppendFile implements Appender {
  readonly path: string;
  #fd: number;
  /** A record was cut short and could not be taken back (another process wrote after it): the next one starts on a new line. */
  #brokenRecord = false;

  /** Opens (creating it, mode 0600) or throws AppendFailed. */
  constructor(path: string) {
    this.path = path;
    this.#fd = AppendFile.#open(path);
  }

  static #open(path: string): number {
    try {
      return openSync(path, "a", 0o600);
    } catch (error) {
      throw new AppendFailed(errnoOf(error));
    }
  }

  reopen(): void {
    const next = AppendFile.#open(this.path);
    const old = this.#fd;
    this.#fd = next;
    try {
      closeSync(old);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /**
   * A file deleted under an open descriptor still takes writes, into an inode no one can read
   * any more: nothing in write() says so. Its link count does. A file renamed away (rotation)
   * keeps its link and its records, until reopen().
   */
  replaceIfDeleted(): boolean {
    let links: number;
    try {
      links = fstatSync(this.#fd).nlink;
    } catch (error) {
      throw new AppendFailed(errnoOf(error));
    }
    if (links > 0) return false;
    this.reopen();
    return true;
  }

  #unlinked(): boolean {
    try {
      return fstatSync(this.#fd).nlink === 0;
    } catch {
      return true;
    }
  }

  /**
   * One write() of every record. A disk that fills up takes only part of it: the records wholly
   * in that part are written (and counted), the one cut short is taken back off the end of the
   * file when nothing was written after it, so no torn line is left, and the rest are not written.
   */
  append(records: readonly string[], done: Appended): void {
    const lead = this.#brokenRecord ? 1 : 0;
    const lines = this.#brokenRecord ? ["\n", ...records] : records;
    // Each record ends its line, so encoding them joined gives the bytes encoding each would.
    const bytes = Buffer.from(lines.join(""));
    let sizeBefore: number;
    let written: number;
    try {
      sizeBefore = fstatSync(this.#fd).size;
      written = writeSync(this.#fd, bytes);
    } catch (error) {
      done(0, new AppendFailed(errnoOf(error)));
      return;
    }
    if (written === bytes.length) {
      this.#brokenRecord = false;
      // Deleted since the caller's replaceIfDeleted(), and before this write: no one can read these.
      if (this.#unlinked()) done(0, new AppendFailed("ENOENT"));
      else done(records.length);
      return;
    }
    if (written > 0) this.#brokenRecord = false;
    const whole = wholeRecordsIn(lines, written);
    const torn = written - whole.length;
    if (torn > 0) this.#takeBack(sizeBefore + written, torn);
    done(Math.max(0, whole.count - lead), new AppendFailed("ENOSPC"));
  }

  /** Cuts the `torn` bytes just written off the file's end, when the file still ends where this write did. */
  #takeBack(endOfWrite: number, torn: number): void {
    try {
      if (fstatSync(this.#fd).size === endOfWrite) {
        ftruncateSync(this.#fd, endOfWrite - torn);
        return;
      }
    } catch {
      // Left as it is: the next record starts on a line of its own.
    }
    this.#brokenRecord = true;
  }

  close(): void {
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed.
    }
  }
}

/**
 * Standard output (`-`), through process.stdout, the stream the log lines go through too, so an
 * audit line and a log line never cut into each other. Never blocks: a pipe read slowly keeps the
 * records in the stream's buffer, and `done` is called when they have been written, or failed
 * (EPIPE: the reader is gone). Never reopened or replaced.
 */
export class StdoutAppender implements Appender {
  /**
   * Records handed to the stream can no longer be taken back, so they are handed on a few at a
   * time (about a dozen audit lines), each after the last was written: behind a stalled reader,
   * only those wait, and the caller can still withdraw the rest.
   */
  readonly chunkBytes = 4096;

  constructor() {
    // Failures are told to each write's callback; unheard, the stream's 'error' event would end the process.
    process.stdout.on("error", () => undefined);
  }

  append(records: readonly string[], done: Appended): void {
    try {
      process.stdout.write(records.join(""), (error) => {
        if (error === null || error === undefined) done(records.length);
        else done(0, new AppendFailed(errnoOf(error)));
      });
    } catch (error) {
      done(0, new AppendFailed(errnoOf(error)));
    }
  }

  reopen(): void {
    // Standard output is whatever the process was started with: there is no path to open again.
  }
}

/** The appender for CAAS_AUDIT_LOG's value: `-` is standard output, anything else a path, opened now (or AppendFailed). */
export function openAppender(path: string): Appender {
  return path === "-" ? new StdoutAppender() : new AppendFile(path);
}
