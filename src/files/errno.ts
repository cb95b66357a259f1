/** Why a file call failed: the errno, and the system's reason in words a user can act on. */

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
