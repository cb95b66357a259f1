/**
 * A file written only at its end, one whole record per write(): opened with O_APPEND, so several
 * processes appending to one file (caas --workers N) never overwrite or interleave each other's
 * records, and reopened by path on request, so a file renamed away (log rotation) is followed by
 * a new one at the path. `-` stands for standard output, which is never reopened.
 *
 * Writes are synchronous: write() has returned, to the kernel, when append() returns. There is
 * no fsync: a record survives a crash of caas, not one of the machine.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { CaasError } from "../errors.ts";

/** Why an append failed: the errno name (ENOSPC, EBADF...), nothing of the record. */
export class AppendFailed extends CaasError {
  readonly code = "append_failed";
  constructor(readonly errno: string) {
    super(`append failed (${errno})`);
  }
}

const STDOUT = 1;

/** How long a record may wait for a full pipe (standard output read slowly) before the append fails. */
const PIPE_WAIT_MS = 100;

function errnoOf(error: unknown): string {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : "unknown";
}

export class AppendFile {
  readonly path: string;
  #fd: number;
  /** A record was cut short (a disk that filled mid-write): the next one starts on a new line. */
  #brokenRecord = false;

  /** Opens (creating it, mode 0600) or throws AppendFailed. */
  constructor(path: string) {
    this.path = path;
    this.#fd = path === "-" ? STDOUT : AppendFile.#open(path);
  }

  static #open(path: string): number {
    try {
      return openSync(path, "a", 0o600);
    } catch (error) {
      throw new AppendFailed(errnoOf(error));
    }
  }

  /**
   * Opens the path again and swaps to it, closing the old descriptor; on failure the old one is
   * kept (its records still land, in the renamed file) and AppendFailed is thrown.
   */
  reopen(): void {
    if (this.path === "-") return;
    const next = AppendFile.#open(this.path);
    const old = this.#fd;
    this.#fd = next;
    try {
      closeSync(old);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /** Writes `record` whole with one write() (more only for a pipe that takes part of it), or throws AppendFailed. */
  append(record: string): void {
    let bytes = Buffer.from(this.#brokenRecord ? `\n${record}` : record);
    let waitedSince: number | undefined;
    let wroteSome = false;
    while (bytes.length > 0) {
      let written: number;
      try {
        written = writeSync(this.#fd, bytes);
      } catch (error) {
        const errno = errnoOf(error);
        // Bun makes a piped standard output non-blocking; a full pipe is waited on a little.
        if (errno === "EAGAIN") {
          waitedSince ??= performance.now();
          if (performance.now() - waitedSince < PIPE_WAIT_MS) {
            Bun.sleepSync(1);
            continue;
          }
        }
        if (wroteSome) this.#brokenRecord = true;
        throw new AppendFailed(errno);
      }
      bytes = bytes.subarray(written);
      wroteSome ||= written > 0;
      if (bytes.length > 0 && this.path !== "-") {
        // A regular file takes a record whole or fails; a short write means it just filled up.
        this.#brokenRecord = true;
        throw new AppendFailed("ENOSPC");
      }
    }
    this.#brokenRecord = false;
  }

  close(): void {
    if (this.path === "-") return;
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed.
    }
  }
}
