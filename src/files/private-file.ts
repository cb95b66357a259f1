/**
 * Small files only this user may rewrite (the server secret, the API keys file), and the one set
 * of rules both stores keep them by: how a file is read (owner, mode, directory, size checked),
 * how a command changes one (an exclusive lock for the whole read-modify-write, then a 0600
 * temporary beside the file, fsynced and moved into place, so a reader never sees half a file)
 * and what a symbolic link means (the file it points to is the one read and the one updated).
 * Failures are PrivateFileFailed with a problem, which the store whose file it is words as its
 * own StoreFileError (store-errors.ts).
 */
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, link, lstat, open, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { errnoCode, errnoReason } from "./errno.ts";
import { tryLock } from "./flock.ts";
import { PrivateFileFailed, type PrivateFileProblem } from "./store-errors.ts";

export const PRIVATE_FILE_MODE = 0o600;
/** How long a command waits for another one to finish with the same file before giving up. */
export const LOCK_WAIT_MS = 10_000;

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
// flock(2) on a lock file beside the target (flock.ts). The lock file is never removed: removing
// it would let a waiter lock a file that is no longer the one the next command opens. flock(1)
// takes the same lock, so an operator can hold off caas commands with `flock .keys.json.lock ...`.

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
