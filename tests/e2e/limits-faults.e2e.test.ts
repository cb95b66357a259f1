/**
 * Faults at start-up, against dist/caas: a secret file others can read, a state directory it
 * cannot read, a full disk, a state "directory" that is a file. Each is a one-line message on
 * stderr naming the path and the cause, exit code 78 (EX_CONFIG), and no listener.
 *
 * Root reads through any file mode, so under root the unreadable-directory case runs caas as
 * nobody (setpriv); the full disk is a 4 KiB tmpfs in a private user and mount namespace
 * (unshare -rm). Each is skipped, with a message, where that is not possible.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cliOk, tempDir } from "./harness.ts";

const EXIT_CONFIG = 78;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) {
    try {
      chmodSync(join(dir, "state"), 0o700);
    } catch {
      // not every case made one
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

function workDir(): string {
  const dir = tempDir("caas-fault-");
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

interface Outcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
}

/** Runs `caas serve` (on a free port, with an ad-hoc certificate) and waits for it to give up. */
async function serve(env: Record<string, string>, wrap: string[] = []): Promise<Outcome> {
  const child = Bun.spawn([...wrap, BINARY, "serve"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CAAS_PORT: "0", CAAS_OPS_LISTEN: "127.0.0.1:0", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, stderr: await new Response(child.stderr).text(), stdout: await new Response(child.stdout).text() };
}

function expectRefusal(outcome: Outcome, ...mentions: string[]): void {
  expect(outcome.code).toBe(EXIT_CONFIG);
  expect(outcome.stdout).not.toContain('"event":"listening"');
  const message = outcome.stderr.trim();
  expect(message.split("\n")).toHaveLength(1);
  expect(message).toStartWith("caas serve: ");
  for (const mention of mentions) expect(message).toContain(mention);
}

function initSecret(path: string): void {
  cliOk("secret", "init", path);
}

const isRoot = process.getuid?.() === 0;
const canDropToNobody = !isRoot || Bun.which("setpriv") !== null;
const probe = Bun.spawnSync(
  ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=4k tmpfs /tmp"],
  { stdout: "ignore", stderr: "ignore" },
);
const canMountTmpfs = Bun.which("unshare") !== null && probe.exitCode === 0;
if (!canDropToNobody) console.warn("limits-faults: running as root without setpriv; the unreadable state directory case is skipped");
if (!canMountTmpfs) console.warn("limits-faults: cannot mount a tmpfs in a user namespace (unshare -rm); the full disk case is skipped");

describe("start-up faults end in a clear message and exit 78", () => {
  for (const mode of [0o644, 0o640, 0o604]) {
    it(`refuses a secret file with mode ${mode.toString(8)}, naming it and the fix`, async () => {
      const dir = workDir();
      const secret = join(dir, "secret.json");
      initSecret(secret);
      chmodSync(secret, mode);
      const outcome = await serve({ HOME: dir, CAAS_SECRET_FILE: secret, CAAS_STATE_DIR: join(dir, "state") });
      expectRefusal(outcome, secret, "group or others", `chmod 600 ${secret}`);
    });
  }

  it.skipIf(!canDropToNobody)("refuses a state directory it cannot read", async () => {
    const dir = workDir();
    const state = join(dir, "state");
    mkdirSync(state, { mode: 0o700 });
    initSecret(join(state, "secret.json"));
    const wrap = isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    if (isRoot) chownSync(state, 65534, 65534);
    chmodSync(state, 0o000);
    const outcome = await serve({ HOME: dir, CAAS_STATE_DIR: state }, wrap);
    expectRefusal(outcome, state, "permission denied");
  });

  it.skipIf(!canMountTmpfs)("refuses to start on a full disk rather than run without its secret", async () => {
    const dir = workDir();
    const state = join(dir, "state");
    const script = `mount -t tmpfs -o size=4k tmpfs '${dir}' && dd if=/dev/zero of='${dir}/fill' bs=1k count=16 2>/dev/null; exec "$@"`;
    const outcome = await serve({ HOME: dir, CAAS_STATE_DIR: state }, ["unshare", "-rm", "sh", "-c", script, "sh"]);
    expectRefusal(outcome, state, "no space left on device");
  });

  it("refuses a state directory path that is a file", async () => {
    const dir = workDir();
    const notADirectory = join(dir, "state");
    writeFileSync(notADirectory, "");
    const outcome = await serve({ HOME: dir, CAAS_STATE_DIR: join(notADirectory, "caas") });
    expectRefusal(outcome, notADirectory, "not a directory");
  });
});
