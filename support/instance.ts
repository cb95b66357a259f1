/**
 * One caas process for the e2e suites and the benches alike: `caas serve` from a given executable
 * in a fresh temporary directory, with a test certificate (test-pki.ts), CAAS_PORT=0 and
 * CAAS_OPS_LISTEN=127.0.0.1:0 so each instance takes free ports, read back from the log
 * ("listening", and "supervising" for the ops listener of a supervisor). It builds nothing:
 * tests/e2e/harness.ts runs a dist/caas built from the tree, bench/harness.ts the one already built.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { makeTestPki, tempDir, type TestPki } from "./test-pki.ts";

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
  /** The executable to run; the harness that calls startInstance says which by default. */
  readonly binary?: string;
  /** PEM of the CA the client trusts; defaults to the test PKI's. */
  readonly trust?: string;
  readonly pki?: TestPki;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.push(decoder.decode(chunk, { stream: true }));
}

/** Starts `caas serve` from `binary` in a fresh directory on free ports, and resolves once it listens. */
export async function startInstance(binary: string, options: StartOptions = {}): Promise<RunningCaas> {
  const pki = options.pki ?? makeTestPki();
  const cwd = options.cwd ?? tempDir();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: cwd,
    CAAS_PORT: "0",
    CAAS_OPS_LISTEN: "127.0.0.1:0",
    // A test that changes files and then sends SIGHUP must see the SIGHUP's reload, not one the file
    // watch started on the way; a test of change detection turns the watch back on.
    CAAS_RELOAD_ON_CHANGE: "false",
    CAAS_STATE_DIR: join(cwd, "state"),
    CAAS_TLS_CERT: pki.serverCert,
    CAAS_TLS_KEY: pki.serverKey,
    ...options.env,
  };
  const child = Bun.spawn([options.binary ?? binary, "serve", ...(options.args ?? [])], {
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
