/**
 * The change watch over real files: every way a credential file is replaced in practice (an
 * editor's rewrite, an atomic rename, a Kubernetes Secret volume's `..data` swap, deletion) is
 * reported once, a burst of writes is one report, and nothing unchanged is ever reported.
 */
import { afterEach, describe, expect, it } from "bun:test";
import { mkdir, rename, stat, symlink, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ChangeWatch, watchForChanges } from "../../src/files/change-watch.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-change-watch-");
const INTERVAL_MS = 20;
const SETTLE_MS = 40;
/** Long enough for a change to be seen and settle many times over. */
const QUIET_MS = 10 * (INTERVAL_MS + SETTLE_MS);

const watches: ChangeWatch[] = [];
afterEach(() => {
  for (const watch of watches.splice(0)) watch.stop();
});

/** A watch whose callbacks are kept, in order, as the changed paths of each. */
async function watch(paths: readonly string[], settleMs = SETTLE_MS): Promise<{ watch: ChangeWatch; calls: (readonly string[])[] }> {
  const calls: (readonly string[])[] = [];
  const started = await watchForChanges(paths, (changed) => calls.push(changed), { intervalMs: INTERVAL_MS, settleMs });
  watches.push(started);
  return { watch: started, calls };
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}

async function fileIn(directory: string, name: string, text: string): Promise<string> {
  const path = join(directory, name);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/** A Kubernetes Secret volume as the kubelet lays it out: a timestamped directory, `..data` pointing at it, each file a link through `..data/`. */
async function secretVolume(
  root: string,
  files: Record<string, string>,
): Promise<(next: Record<string, string>, stamp: string) => Promise<void>> {
  const publish = async (contents: Record<string, string>, stamp: string): Promise<string> => {
    const directory = `..${stamp}`;
    await mkdir(join(root, directory));
    for (const [name, text] of Object.entries(contents)) await writeFile(join(root, directory, name), text, { mode: 0o400 });
    return directory;
  };
  await symlink(await publish(files, "2026_12_07_10_00_00.123456"), join(root, "..data"));
  for (const name of Object.keys(files)) await symlink(join("..data", name), join(root, name));
  return async (next, stamp) => {
    const directory = await publish(next, stamp);
    await symlink(directory, join(root, "..data_tmp"));
    await rename(join(root, "..data_tmp"), join(root, "..data"));
  };
}

describe("watchForChanges", () => {
  it("reports an in-place rewrite once, not again while the file stays as it is", async () => {
    const directory = await scratch();
    const keys = await fileIn(directory, "api-keys.json", '{"keys":[]}');
    const other = await fileIn(directory, "secret.json", "{}");
    const { calls } = await watch([keys, other]);
    await writeFile(keys, '{"keys":[1]}');
    await until(() => calls.length > 0);
    await Bun.sleep(QUIET_MS);
    expect(calls).toEqual([[keys]]);
  });

  it("reports a file renamed over the watched one", async () => {
    const directory = await scratch();
    const secret = await fileIn(directory, "secret.json", '{"v":1}');
    const { calls } = await watch([secret]);
    const temporary = await fileIn(directory, ".secret.json.tmp", '{"v":2}');
    await rename(temporary, secret);
    await until(() => calls.length > 0);
    expect(calls).toEqual([[secret]]);
  });

  it("reports a Kubernetes ..data swap even when the new file has the old one's size and mtime", async () => {
    const root = await scratch();
    const swap = await secretVolume(root, { "secret.json": '{"v":1}', "root-key": "a" });
    const secret = join(root, "secret.json");
    const rootKey = join(root, "root-key");
    const before = await stat(secret);
    const { calls } = await watch([secret, rootKey]);
    await swap({ "secret.json": '{"v":2}', "root-key": "a" }, "2026_12_07_10_05_00.654321");
    await utimes(join(root, "..2026_12_07_10_05_00.654321", "secret.json"), before.atime, before.mtime);
    await until(() => calls.length > 0);
    await Bun.sleep(QUIET_MS);
    // Both links now name new files; the volume's swap replaces every file at once.
    expect(calls).toEqual([[secret, rootKey]]);
  });

  it("reports a deleted file, and again when it comes back", async () => {
    const directory = await scratch();
    const keyring = await fileIn(directory, "keyring.json", "{}");
    const { calls } = await watch([keyring]);
    await unlink(keyring);
    await until(() => calls.length === 1);
    await fileIn(directory, "keyring.json", "{}");
    await until(() => calls.length === 2);
    expect(calls).toEqual([[keyring], [keyring]]);
  });

  it("reports a file that was missing at the start once it appears", async () => {
    const directory = await scratch();
    const cert = join(directory, "tls.crt");
    const { calls } = await watch([cert]);
    await Bun.sleep(QUIET_MS / 2);
    expect(calls).toEqual([]);
    await fileIn(directory, "tls.crt", "pem");
    await until(() => calls.length > 0);
    expect(calls).toEqual([[cert]]);
  });

  it("reports files written one after another within the settle time as one change", async () => {
    const directory = await scratch();
    const cert = await fileIn(directory, "tls.crt", "old cert");
    const key = await fileIn(directory, "tls.key", "old key");
    // Settling well beyond the gap between the writes, which spans a few polls.
    const { calls } = await watch([cert, key], 300);
    await writeFile(cert, "new cert");
    await Bun.sleep(3 * INTERVAL_MS);
    await writeFile(key, "new key");
    await until(() => calls.length > 0);
    await Bun.sleep(QUIET_MS);
    expect(calls).toEqual([[cert, key]]);
  });

  it("does not report a change again once rebase() has taken it as the baseline", async () => {
    const directory = await scratch();
    const secret = await fileIn(directory, "secret.json", '{"v":1}');
    // A settle time the rebase below comes well within.
    const { watch: started, calls } = await watch([secret], 300);
    await writeFile(secret, '{"v":2}');
    await until(() => calls.length === 1);
    // A second write lands before the reload the first one caused reads the file: the reload
    // reads both, and its rebase() means they are not reported again.
    await writeFile(secret, '{"v":3}');
    await started.rebase();
    await Bun.sleep(QUIET_MS);
    expect(calls).toEqual([[secret]]);
  });

  it("calls nothing after stop()", async () => {
    const directory = await scratch();
    const secret = await fileIn(directory, "secret.json", '{"v":1}');
    const { watch: started, calls } = await watch([secret]);
    started.stop();
    await writeFile(secret, '{"v":2}');
    await Bun.sleep(QUIET_MS);
    expect(calls).toEqual([]);
  });

  it("reports nothing while no file changes, a missing one included", async () => {
    const directory = await scratch();
    const present = await fileIn(directory, "api-keys.json", "{}");
    const root = await scratch();
    await secretVolume(root, { "keyring.json": "{}" });
    const { calls } = await watch([present, join(root, "keyring.json"), join(directory, "absent")]);
    await Bun.sleep(QUIET_MS);
    expect(calls).toEqual([]);
  });

  it("never keeps a process alive", async () => {
    const directory = await scratch();
    const secret = await fileIn(directory, "secret.json", "{}");
    const module = join(import.meta.dir, "../../src/files/change-watch.ts");
    const script = `const { watchForChanges } = await import(${JSON.stringify(module)}); await watchForChanges([${JSON.stringify(secret)}], () => {}, { intervalMs: 10 });`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "pipe" });
    const exited = await Promise.race([child.exited, Bun.sleep(5000).then(() => "still running")]);
    if (exited === "still running") child.kill();
    expect(exited).toBe(0);
  });
});
