/**
 * Small files only this user may read (the server secret, the API keys file): written whole to
 * a 0600 temporary beside the target and fsynced, then moved into place, so a reader never sees
 * half a file. Shared by the secret and key stores, which map failures to their own errors.
 */
import { randomBytes } from "node:crypto";
import { link, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export const PRIVATE_FILE_MODE = 0o600;

/**
 * A file caas keeps (secret, API keys) is missing, unreadable, insecure or malformed: a stable
 * code, the path, and a message that names the file and the fix, never the file's contents.
 * The CLI exits 78 on any of them.
 */
export abstract class StoreFileError extends Error {
  abstract readonly code: string;
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
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
};

/** The system's reason in words a user can act on, never the raw error (which may quote paths we did not choose). */
export function errnoReason(error: unknown): string {
  const code = errnoCode(error) ?? "";
  return REASONS[code] ?? (code === "" ? "unexpected error" : code);
}

export class PrivateFileWriteFailed extends Error {
  constructor(
    /** True when `create` found the file already there. */
    readonly exists: boolean,
    readonly reason: string,
  ) {
    super(reason);
    this.name = "PrivateFileWriteFailed";
  }
}

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
 * Writes `text` to a new 0600 file beside `path` (O_EXCL, fsynced), then puts it in place:
 * `link` for a file that must not exist yet (fails with EEXIST instead of overwriting, and a
 * reader never sees a half-written file, which O_EXCL on `path` itself would allow), `rename`
 * to replace one atomically. Throws PrivateFileWriteFailed.
 */
export async function writePrivateFile(path: string, text: string, how: "create" | "replace"): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString("hex")}.tmp`);
  try {
    const handle = await open(temporary, "wx", PRIVATE_FILE_MODE);
    try {
      // The umask can only clear bits, but say 0600 outright rather than rely on it.
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new PrivateFileWriteFailed(false, errnoReason(error));
  }
  try {
    if (how === "create") await link(temporary, path);
    else await rename(temporary, path);
  } catch (error) {
    throw new PrivateFileWriteFailed(errnoCode(error) === "EEXIST", errnoReason(error));
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(dirname(path));
}
