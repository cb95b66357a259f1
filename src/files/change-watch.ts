/**
 * Notices that a file caas loaded has changed, so the server can reload without a SIGHUP.
 *
 * Polling, not fs.watch: inotify on a file watches its inode, and a Kubernetes Secret volume
 * never touches that inode: it renames a new `..data` symlink over the old one, so the file
 * (`name -> ..data/name`) silently names another inode. A directory watch would need the parent
 * of every link in the chain and still miss a swap of a parent directory. A stat() through the
 * links plus a realpath() per file each interval sees every such swap, costs a handful of system
 * calls a second, and has no watch descriptors to run out of.
 */
import { realpath, stat } from "node:fs/promises";

export interface ChangeWatch {
  /** Takes the files' current state as the new baseline (called after a reload, successful or not, so one change reloads once). */
  rebase(): Promise<void>;
  stop(): void;
}

export interface ChangeWatchOptions {
  readonly intervalMs?: number;
  readonly settleMs?: number;
}

/** A file that is gone or cannot be stat'ed: a state like any other, so its return is a change too. */
const MISSING = "missing";

/**
 * What identifies a file's contents without reading them. The resolved path catches a `..data`
 * swap whose new file has the same size and a reused mtime; ctime catches a rewrite within the
 * mtime's resolution and a chmod or chown, which decide whether caas accepts the file.
 */
async function fingerprint(path: string): Promise<string> {
  try {
    const [target, info] = await Promise.all([realpath(path), stat(path)]);
    return [target, info.dev, info.ino, info.size, info.mtimeMs, info.ctimeMs].join("\0");
  } catch {
    return MISSING;
  }
}

async function snapshot(paths: readonly string[]): Promise<readonly string[]> {
  return Promise.all(paths.map(fingerprint));
}

function sameState(a: readonly string[], b: readonly string[]): boolean {
  return a.every((print, index) => print === b[index]);
}

/** Polls every intervalMs; calls onChange once per change, after the files have stayed unchanged for settleMs (an editor or `kubectl` writing several files). */
export async function watchForChanges(
  paths: readonly string[],
  onChange: (changed: readonly string[]) => void,
  options: ChangeWatchOptions = {},
): Promise<ChangeWatch> {
  const intervalMs = options.intervalMs ?? 1000;
  const settleMs = options.settleMs ?? 300;
  const files = [...new Set(paths)];
  let baseline = await snapshot(files);
  /** The state last seen while a change settles; undefined while the files match the baseline. */
  let settling: readonly string[] | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(poll, delayMs);
    // A watch must never be what keeps a process from exiting.
    timer.unref();
  };

  const poll = async (): Promise<void> => {
    const current = await snapshot(files);
    if (stopped) return;
    if (sameState(current, baseline)) {
      settling = undefined;
    } else if (settling === undefined || !sameState(current, settling)) {
      // Changed since the last look: look again once it has had settleMs to finish.
      settling = current;
      schedule(settleMs);
      return;
    } else {
      const changed = files.filter((_, index) => current[index] !== baseline[index]);
      baseline = current;
      settling = undefined;
      try {
        onChange(changed);
      } catch {
        // The callback reports its own failures; one that throws must not end the watch.
      }
    }
    schedule(intervalMs);
  };

  schedule(intervalMs);
  return {
    async rebase() {
      const current = await snapshot(files);
      baseline = current;
      settling = undefined;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
