/**
 * What the benchmarks need to run caas, kept apart from tests/ so a benchmark does not move when
 * the test suites do: a throwaway test PKI, and dist/caas (as built; `bun run build` first)
 * started on a free port, read back from its "listening" log line.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const BINARY = resolve(import.meta.dir, "../dist/caas");

export function tempDir(prefix = "caas-e2e-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`);
}

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caCertPem: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

/** TEST FIXTURE: a throwaway CA and a localhost certificate it signed, valid for 60 days (caas warns about one that expires within 30). */
export function makeTestPki(dir = tempDir("caas-pki-"), name = "server"): TestPki {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  if (!(Bun.file(ca).size > 0)) {
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        caKey,
        "-out",
        ca,
        "-days",
        "60",
        "-subj",
        "/CN=caas test CA",
      ],
      dir,
    );
  }
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  Bun.spawnSync(["sh", "-c", `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > '${ext}'`]);
  openssl(
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`],
    dir,
  );
  openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "60", "-extfile", ext], dir);
  return { dir, caCert: ca, caCertPem: readFileSync(ca, "utf8"), serverCert: cert, serverKey: key };
}

export interface RunningCaas {
  readonly port: number;
  readonly url: string;
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
  const url = `https://127.0.0.1:${port}`;
  const trust = options.trust ?? pki.caCertPem;
  const request = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, { ...init, tls: { ca: trust } } as RequestInit);
  return {
    port,
    url,
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

/** Runs a caas command that must succeed (making a secret, adding a key): its stdout. */
export function cli(...args: string[]): string {
  const result = Bun.spawnSync([BINARY, ...args], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`caas ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}
