/**
 * Runs the real executable for end-to-end tests: instances started as instance.ts starts them,
 * commands run with nothing but PATH and HOME, and waits on the log. Importing it builds
 * dist/caas, once per test process.
 */
import { join, resolve } from "node:path";
import { type RunningCaas, type StartOptions, startInstance } from "../../support/instance.ts";
import { makeTestPki, tempDir, type TestPki } from "../../support/test-pki.ts";

export { makeTestPki, tempDir, type TestPki };
export type { RunningCaas, StartOptions };

const REPO = resolve(import.meta.dir, "../..");
const BUILT = Symbol.for("caas.e2e.built-binary");

/**
 * dist/caas built from this tree with build.ts's flags, so the suites exercise the executable made
 * from the code under test. Kept on globalThis: however many suites of one `bun test` run import
 * this, the build runs once, and a run of unit tests alone, which import none, builds nothing.
 */
function builtBinary(): string {
  const state: typeof globalThis & { [BUILT]?: string } = globalThis;
  if (state[BUILT] === undefined) {
    const build = Bun.spawnSync(["bun", "run", "build.ts"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`tests/e2e: building dist/caas failed:\n${build.stderr.toString()}`);
    state[BUILT] = join(REPO, "dist/caas");
  }
  return state[BUILT];
}

/** The executable under test: CAAS_E2E_BINARY (then nothing is built), else a fresh dist/caas. */
export const BINARY = process.env.CAAS_E2E_BINARY ?? builtBinary();

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  /** The only variables set besides PATH and HOME. */
  readonly env?: Record<string, string>;
  /** The working directory, and HOME; the test process's own when absent. */
  readonly cwd?: string;
  readonly binary?: string;
  /** Killed after this long (default 10 s). */
  readonly timeoutMs?: number;
}

/** Runs the executable to its end with nothing but PATH, HOME and `env` set. */
export function cli(args: readonly string[], options: CliOptions = {}): CliRun {
  const home = options.cwd ?? process.env.HOME ?? process.cwd();
  const started = performance.now();
  const result = Bun.spawnSync([options.binary ?? BINARY, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...options.env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 10_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString(), ms: performance.now() - started };
}

/** Runs a command that must succeed (making a secret, adding a key): its stdout, or an error with its stderr. */
export function cliOk(...args: string[]): string {
  const result = cli(args);
  if (result.code !== 0) throw new Error(`caas ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** `caas keys add NAME --file FILE [more]`: the new key, which it prints on its last line of stdout. */
export function addApiKey(name: string, keysFile: string, ...more: string[]): string {
  return cliOk("keys", "add", name, "--file", keysFile, ...more)
    .trimEnd()
    .split("\n")
    .at(-1)!;
}

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** How many times `output` holds a log line for `event`. */
export function logCount(output: string, event: string): number {
  return output.split(`"event":"${event}"`).length - 1;
}

/** The JSON log lines the server has written so far, parsed, as the caller's type for them. */
export function logLines<Line = Record<string, unknown>>(caas: RunningCaas): Line[] {
  return caas
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Line);
}

/** Waits until the server has logged `event` `times` times in all (once by default). */
export function waitForLog(caas: RunningCaas, event: string, times = 1, timeoutMs = 5_000): Promise<void> {
  return waitFor(() => logCount(caas.output(), event) >= times, `${times} '${event}' log line(s)`, timeoutMs);
}

/**
 * Sends SIGHUP and waits for the reload it starts to end, in "reloaded" or "reload_failed"
 * (what it ended in is the caller's to check): the next request is answered with what it loaded.
 */
export async function reloadAndWait(caas: RunningCaas, timeoutMs = 10_000): Promise<void> {
  const ended = () => logCount(caas.output(), "reloaded") + logCount(caas.output(), "reload_failed");
  const before = ended();
  caas.process.kill("SIGHUP");
  await waitFor(() => ended() > before, "a reload to end", timeoutMs);
}

/** startInstance (instance.ts) of the executable under test. */
export function startCaas(options: StartOptions = {}): Promise<RunningCaas> {
  return startInstance(BINARY, options);
}
