/**
 * Runs the real executable for end-to-end tests: a fresh temporary directory, a test CA and
 * server certificate (test-pki.ts), CAAS_PORT=0 and CAAS_OPS_LISTEN=127.0.0.1:0 so each instance
 * takes free ports, and the ports read back from the log ("listening", and "supervising" for the
 * ops listener of a supervisor). Importing it builds dist/caas, once per test process.
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { makeTestPki, tempDir, type TestPki } from "./test-pki.ts";

export { makeTestPki, tempDir, type TestPki };

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

export interface RunningCaas {
  readonly port: number;
  readonly url: string;
  /** The ops listener's port; undefined when CAAS_OPS_LISTEN is off. */
  readonly opsPort: number | undefined;
  /** A plain-HTTP request to the ops listener (/metrics, /healthz, /readyz). */
  ops(path: string, init?: RequestInit): Promise<Response>;
  readonly process: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  request(path: string, init?: RequestInit): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly args?: string[];
  readonly cwd?: string;
  readonly binary?: string;
  /** PEM of the CA the client trusts; defaults to the test PKI's. */
  readonly trust?: string;
  readonly pki?: TestPki;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.push(decoder.decode(chunk, { stream: true }));
}

export async function startCaas(options: StartOptions = {}): Promise<RunningCaas> {
  const pki = options.pki ?? makeTestPki();
  const cwd = options.cwd ?? tempDir();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: cwd,
    CAAS_PORT: "0",
    CAAS_OPS_LISTEN: "127.0.0.1:0",
    CAAS_STATE_DIR: join(cwd, "state"),
    CAAS_TLS_CERT: pki.serverCert,
    CAAS_TLS_KEY: pki.serverKey,
    ...options.env,
  };
  const child = Bun.spawn([options.binary ?? BINARY, "serve", ...(options.args ?? [])], {
    cwd,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const chunks: string[] = [];
  void collect(child.stdout, chunks);
  void collect(child.stderr, chunks);
  const output = () => chunks.join("");
  const deadline = Date.now() + 10_000;
  let port: number | undefined;
  while (port === undefined) {
    const match = /"event":"listening"[^\n]*"url":"https:\/\/[^"]*:(\d+)"/.exec(output());
    if (match?.[1] !== undefined) port = Number(match[1]);
    else if (child.exitCode !== null || Date.now() > deadline) throw new Error(`caas did not start (exit ${child.exitCode}):\n${output()}`);
    else await Bun.sleep(10);
  }
  // Logged before the first "listening" line: by the process itself, or by the supervisor.
  const opsMatch = /"event":"(?:listening|supervising)"[^\n]*"opsUrl":"http:\/\/[^"]*:(\d+)"/.exec(output());
  const opsPort = opsMatch?.[1] === undefined ? undefined : Number(opsMatch[1]);
  const url = `https://127.0.0.1:${port}`;
  const trust = options.trust ?? pki.caCertPem;
  const request = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, { ...init, tls: { ca: trust } } as RequestInit);
  return {
    port,
    url,
    opsPort,
    ops: (path, init = {}) => {
      if (opsPort === undefined) throw new Error("this caas runs without an ops listener (CAAS_OPS_LISTEN=off)");
      return fetch(`http://127.0.0.1:${opsPort}${path}`, init);
    },
    process: child,
    output,
    request,
    post: (path, body, headers = {}) =>
      request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      const code = await child.exited;
      rmSync(cwd, { recursive: true, force: true });
      return code;
    },
  };
}
