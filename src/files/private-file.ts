/**
 * Small files only this user may rewrite (the server secret, the API keys file), and the one set
 * of rules both stores keep them by: how a file is read (owner, mode, directory, size checked),
 * how a command changes one (an exclusive lock for the whole read-modify-write, then a 0600
 * temporary beside the file, fsynced and moved into place, so a reader never sees half a file)
 * and what a symbolic link means (the file it points to is the one read and the one updated).
 * Failures are PrivateFileFailed with a problem; storeError words it with the store's own error
 * classes (StoreErrors), one mapping for every store.
 */
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, link, lstat, open, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { dlopen, FFIType, read } from "bun:ffi";
import { CaasError } from "../errors.ts";

export const PRIVATE_FILE_MODE = 0o600;
/** How long a command waits for another one to finish with the same file before giving up. */
export const LOCK_WAIT_MS = 10_000;

/**
 * A file caas keeps (secret, API keys) is missing, unreadable, insecure or malformed: a stable
 * code, the path, and a message that names the file and the fix, never the file's contents.
 * The CLI's exit status is its code's (src/cli/exit-codes.ts): 78 for most, busy 75, not found 1.
 */
export abstract class StoreFileError extends CaasError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory (ENOENT)",
  EACCES: "permission denied (EACCES)",
  EPERM: "operation not permitted (EPERM)",
  EISDIR: "is a directory (EISDIR)",
  ENOTDIR: "a path component is not a directory (ENOTDIR)",
  ENOSPC: "no space left on device (ENOSPC)",
  EROFS: "read-only file system (EROFS)",
  EDQUOT: "disk quota exceeded (EDQUOT)",
  ELOOP: "too many symbolic links (ELOOP)",
  EPIPE: "the reader has gone (EPIPE)",
};

/** The system's reason in words a user can act on, never the raw error (which may quote paths we did not choose). */
export function errnoReason(error: unknown): string {
  const code = errnoCode(error) ?? "";
  return REASONS[code] ?? (code === "" ? "unexpected error" : code);
}

/** What is wrong, in a shape each store turns into its own error class and words. */
export type PrivateFileProblem =
  | { readonly kind: "missing" }
  | { readonly kind: "exists" }
  | { readonly kind: "not_regular" }
  | { readonly kind: "too_large" }
  | { readonly kind: "unreadable"; readonly reason: string }
  | { readonly kind: "unwritable"; readonly reason: string }
  /** `subject` is the file or the directory at fault; `sentence` reads "<subject> <sentence>". */
  | { readonly kind: "insecure"; readonly subject: string; readonly sentence: string; readonly fix: string }
  | { readonly kind: "busy" };

/** The shared layer's failure, which the store whose file it is words as its own error before anyone sees it. */
export class PrivateFileFailed extends CaasError {
  readonly code = "private_file_failed";
  constructor(readonly problem: PrivateFileProblem) {
    super(problem.kind);
  }
}

/**
 * How one store words the problems above: a constructor of its own error family for each, and
 * its size limit as its messages say it. The mapping itself is storeError's, the same for all.
 */
export interface StoreErrors<F extends StoreFileError> {
  /** The file's size limit in words ("4 MiB"), for "larger than ...". */
  readonly maxSize: string;
  readonly missing: (path: string) => F;
  readonly exists: (path: string) => F;
  readonly invalid: (path: string, reason: string) => F;
  readonly insecure: (path: string, subject: string, sentence: string, fix: string) => F;
  readonly unreadable: (path: string, reason: string) => F;
  readonly unwritable: (path: string, reason: string) => F;
  readonly busy: (path: string) => F;
}

/** `problem` with the file at `path`, as the store whose `errors` these are says it. */
export function storeError<F extends StoreFileError>(errors: StoreErrors<F>, path: string, problem: PrivateFileProblem): F {
  switch (problem.kind) {
    case "missing":
      return errors.missing(path);
    case "exists":
      return errors.exists(path);
    case "not_regular":
      return errors.invalid(path, "not a regular file");
    case "too_large":
      return errors.invalid(path, `larger than ${errors.maxSize}`);
    case "insecure":
      return errors.insecure(path, problem.subject, problem.sentence, problem.fix);
    case "unreadable":
      return errors.unreadable(path, problem.reason);
    case "unwritable":
      return errors.unwritable(path, problem.reason);
    case "busy":
      return errors.busy(path);
  }
}

/** Runs `action` on the file at `path`, turning this layer's failures into the store's own errors. */
export async function asStoreErrors<T, F extends StoreFileError>(
  errors: StoreErrors<F>,
  path: string,
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof PrivateFileFailed) throw storeError(errors, path, error.problem);
    throw error;
  }
}

/** What a store demands of its file, beyond the owner and directory rules that hold for all. */
export interface PrivateFileRules {
  /** Mode bits that make the file unusable: 0o077 for the secret (nobody else reads it), 0o022 for the keys (nobody else writes them). */
  readonly forbiddenModeBits: number;
  readonly maxBytes: number;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function ourUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * ssh's StrictModes: a file or directory is ours only if we or root own it, since its owner can
 * rewrite it whatever its mode says.
 */
function ownerProblem(subject: string, uid: number, what: string, fix: string): PrivateFileProblem | undefined {
  const us = ourUid();
  if (uid === us || uid === 0) return undefined;
  return {
    kind: "insecure",
    subject,
    sentence: `${what} is owned by uid ${uid}, not by uid ${us} (who runs caas) or root, so that user can rewrite it`,
    fix,
  };
}

/**
 * The directory a private file lives in: whoever can write it can replace the file with one of
 * their own, whatever the file's own mode. `modeFix` is the chmod the message advises.
 */
export async function checkPrivateDirectory(directory: string, modeFix = "chmod go-w"): Promise<void> {
  let info: Stats;
  try {
    info = await stat(directory);
  } catch (error) {
    throw new PrivateFileFailed({ kind: "unreadable", reason: `directory ${directory}: ${errnoReason(error)}` });
  }
  if (!info.isDirectory()) throw new PrivateFileFailed({ kind: "not_regular" });
  if ((info.mode & 0o022) !== 0) {
    throw new PrivateFileFailed({
      kind: "insecure",
      subject: directory,
      sentence: `is a directory group or others can write (mode ${octal(info.mode)}), so they could replace the files in it`,
      fix: `${modeFix} ${directory}`,
    });
  }
  const owner = ownerProblem(directory, info.uid, "is a directory that", `chown ${ourUid()} ${directory}`);
  if (owner !== undefined) throw new PrivateFileFailed(owner);
}

/**
 * The file a path names once symbolic links are followed: the one the server reads, so the one
 * a command must update (replacing the link itself would leave the server reading the old
 * target). A path that does not exist yet names a file in its resolved directory.
 */
async function resolveTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw new PrivateFileFailed({ kind: "unwritable", reason: errnoReason(error) });
  }
  const dangling = await lstat(path).then(
    (info) => info.isSymbolicLink(),
    () => false,
  );
  // Creating whatever a dangling link points at would write a file nobody named on purpose.
  if (dangling) throw new PrivateFileFailed({ kind: "unwritable", reason: "it is a symbolic link to a file that does not exist" });
  try {
    return join(await realpath(dirname(path)), basename(path));
  } catch (error) {
    throw new PrivateFileFailed({ kind: "unwritable", reason: errnoReason(error) });
  }
}

/** The directory of the target, and the directory holding the link when the path is one: whoever writes either decides what is read. */
async function checkDirectoriesOf(path: string, target: string): Promise<void> {
  await checkPrivateDirectory(dirname(target));
  let linkDirectory: string;
  try {
    linkDirectory = await realpath(dirname(path));
  } catch {
    return;
  }
  if (linkDirectory !== dirname(target)) await checkPrivateDirectory(linkDirectory);
}

/**
 * Reads a private file through any symbolic link, checking owner, mode and size on the very
 * descriptor it reads from (so the file cannot be swapped between check and read), and the
 * directories that decide what the path names.
 */
export async function readPrivateFile(path: string, rules: PrivateFileRules): Promise<string> {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(await readPrivateFileBytes(path, rules));
}

/** readPrivateFile for a file of raw bytes (the root key), with the same checks. */
export async function readPrivateFileBytes(path: string, rules: PrivateFileRules): Promise<Uint8Array> {
  let target: string;
  try {
    target = await realpath(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new PrivateFileFailed({ kind: "missing" });
    throw new PrivateFileFailed({ kind: "unreadable", reason: errnoReason(error) });
  }
  let handle: FileHandle;
  try {
    handle = await open(target, "r");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new PrivateFileFailed({ kind: "missing" });
    throw new PrivateFileFailed({ kind: "unreadable", reason: errnoReason(error) });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new PrivateFileFailed({ kind: "not_regular" });
    const owner = ownerProblem(path, info.uid, "is a file that", `chown ${ourUid()} ${target}`);
    if (owner !== undefined) throw new PrivateFileFailed(owner);
    if ((info.mode & rules.forbiddenModeBits) !== 0) {
      const access = (rules.forbiddenModeBits & 0o044) !== 0 ? "is accessible to group or others" : "is writable by group or others";
      throw new PrivateFileFailed({
        kind: "insecure",
        subject: path,
        sentence: `${access} (mode ${octal(info.mode)})`,
        fix: `chmod 600 ${target}`,
      });
    }
    await checkDirectoriesOf(path, target);
    if (info.size > rules.maxBytes) throw new PrivateFileFailed({ kind: "too_large" });
    try {
      return new Uint8Array(await handle.readFile());
    } catch (error) {
      throw new PrivateFileFailed({ kind: "unreadable", reason: errnoReason(error) });
    }
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The lock
//
// flock(2) on a lock file beside the target, called through bun:ffi (node:fs has no binding).
// Chosen over a pid file made with O_EXCL because the kernel drops the lock when its holder
// dies, however it dies: nothing goes stale, so there is no stale-lock guess to get wrong
// (a reused pid, a pid from another container, two processes breaking the same stale lock at
// once and both believing they hold it). The lock file is never removed: removing it would let
// a waiter lock a file that is no longer the one the next command opens. flock(1) takes the
// same lock, so an operator can hold off caas commands with `flock .keys.json.lock ...`.

const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;

interface Libc {
  flock(fd: number, operation: number): number;
  errno(): number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  // glibc's name, then musl's (the -musl builds).
  for (const name of ["libc.so.6", `libc.musl-${arch}.so.1`]) {
    try {
      const { symbols } = dlopen(name, {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      libc = {
        flock: (fd, operation) => symbols.flock(fd, operation),
        errno: () => {
          const where = symbols.__errno_location();
          return where === null ? 0 : read.i32(where, 0);
        },
      };
      return libc;
    } catch {
      // Try the next name.
    }
  }
  throw new PrivateFileFailed({ kind: "unwritable", reason: "cannot lock it: no C library providing flock(2) was found" });
}

/** Tries the lock without blocking the thread: true when taken, false when another holds it. */
function tryLock(fd: number): boolean {
  const { flock, errno } = loadLibc();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const code = errno();
    if (code === EINTR) continue;
    if (code === EWOULDBLOCK) return false;
    throw new PrivateFileFailed({ kind: "unwritable", reason: `cannot lock it (errno ${code})` });
  }
}

/**
 * The resolved file to write for `path` (see resolveTarget), once the directories that decide
 * what it names are checked. For a write that needs no lock: creating a file that must not
 * exist yet is atomic on its own (writePrivateFile's link).
 */
export async function privateFileTarget(path: string): Promise<string> {
  const target = await resolveTarget(path);
  await checkDirectoriesOf(path, target);
  return target;
}

export function lockFileFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.lock`);
}

/**
 * Runs `change` holding the exclusive lock of the file `path` names (links followed), after
 * checking the directories it lives in; `change` gets that file's resolved path to write to.
 * Waits up to `waitMs` for another holder, polling with backoff, then fails with "busy".
 * The lock is released when `change` settles, or by the kernel if the process dies first.
 */
export async function withPrivateFileLock<T>(path: string, change: (target: string) => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  const target = await privateFileTarget(path);
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: the lock file is ours to create, never a link to somewhere else.
    handle = await open(lockFileFor(target), constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, PRIVATE_FILE_MODE);
  } catch (error) {
    throw new PrivateFileFailed({ kind: "unwritable", reason: `cannot open its lock file (${errnoReason(error)})` });
  }
  try {
    const deadline = performance.now() + waitMs;
    let pause = 2;
    while (!tryLock(handle.fd)) {
      if (performance.now() >= deadline) throw new PrivateFileFailed({ kind: "busy" });
      // Jitter keeps a crowd of waiters from retrying in step.
      await Bun.sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 100);
    }
    return await change(target);
  } finally {
    // Closing the only descriptor of the open file releases its flock.
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The write

/** Makes the new directory entry durable; a failure here loses durability, not correctness. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself was already synced.
  }
}

/**
 * Writes `text` to a new 0600 file beside `target` (O_EXCL, fsynced), then puts it in place:
 * `link` for a file that must not exist yet (fails with EEXIST instead of overwriting, and a
 * reader never sees a half-written file, which O_EXCL on `target` itself would allow), `rename`
 * to replace one atomically. `target` is the resolved path withPrivateFileLock hands over, so a
 * symbolic link is kept and its file updated. Throws PrivateFileFailed (exists or unwritable).
 */
export async function writePrivateFile(target: string, text: string | Uint8Array, how: "create" | "replace"): Promise<void> {
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(8).toString("hex")}.tmp`);
  try {
    const handle = await open(temporary, "wx", PRIVATE_FILE_MODE);
    try {
      // The umask can only clear bits, but say 0600 outright rather than rely on it.
      await handle.chmod(PRIVATE_FILE_MODE);
      await (typeof text === "string" ? handle.writeFile(text, "utf8") : handle.writeFile(text));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new PrivateFileFailed({ kind: "unwritable", reason: errnoReason(error) });
  }
  try {
    if (how === "create") await link(temporary, target);
    else await rename(temporary, target);
  } catch (error) {
    throw new PrivateFileFailed(errnoCode(error) === "EEXIST" ? { kind: "exists" } : { kind: "unwritable", reason: errnoReason(error) });
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(dirname(target));
}

/** Removes the file (for undoing a change that was never seen); missing already is fine. */
export async function removePrivateFile(target: string): Promise<void> {
  try {
    await unlink(target);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw new PrivateFileFailed({ kind: "unwritable", reason: errnoReason(error) });
  }
  await syncDirectory(dirname(target));
}
