/**
 * flock(2), called through bun:ffi (node:fs has no binding), for the lock a command holds on a
 * private file while it changes it (private-file.ts). Chosen over a pid file made with O_EXCL
 * because the kernel drops the lock when its holder dies, however it dies: nothing goes stale,
 * so there is no stale-lock guess to get wrong (a reused pid, a pid from another container, two
 * processes breaking the same stale lock at once and both believing they hold it).
 */
import { dlopen, FFIType, read } from "bun:ffi";
import { PrivateFileFailed } from "./store-errors.ts";
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
export function tryLock(fd: number): boolean {
  const { flock, errno } = loadLibc();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const code = errno();
    if (code === EINTR) continue;
    if (code === EWOULDBLOCK) return false;
    throw new PrivateFileFailed({ kind: "unwritable", reason: `cannot lock it (errno ${code})` });
  }
}
