/**
 * The load benchmark: `bun run bench [-- options]`. Builds dist/caas (and, for the AEAD backend
 * comparison, a Web Crypto build of the same sources), starts it and the raw Bun.serve baselines
 * (bench/baseline.ts) and caas with layers taken off (bench/layers.ts: where the time goes, by
 * subtraction) on loopback with one throwaway openssl PKI, and drives every one of them
 * with wrk (`-t1 -c<connections> -d<seconds>`, a Lua script for the POST body), in interleaved
 * rounds so the machine's noise falls on all of them alike. wrk is pinned to CPU 0 and the
 * servers to CPU 1 with taskset when there are two CPUs or more (said in the output).
 * Prints a markdown table and writes it to bench/results/latest.md. The signing rows (caas's
 * /keyring/{name}/sign and /hmac, single and batch, against hand-written servers making the same
 * node:crypto call) run where the build signs, and are skipped with a message where it does not.
 *
 *   --help              this text
 *   --quick             a smoke run of well under a minute (CI): 1 round of 2 s, 30,000 requests for RSS
 *   --runs N            rounds (default 5; env BENCH_RUNS)
 *   --duration S        seconds per wrk run (default 10; env BENCH_DURATION)
 *   --connections C     wrk connections (default 50)
 *   --batch-size K      items per batch request (default 100)
 *   --rss-requests N    requests for the memory check (default 1,000,000; env BENCH_RSS_REQUESTS)
 *   --only a,b          scenarios to run (names in the table's first column); the signing rows are
 *                       sign-ed25519, sign-es256, sign-rs256 and hmac-sha256, each with -batch, a
 *                       hand-written- twin of each, and rss-sign (RSS under Ed25519 signing)
 *   --no-build          use dist/caas as it is
 *   --before FILE       also run the oracle on another caas executable (say, one built from an
 *                       earlier commit), reported as "oracle-before" against this build
 *   --buildup           only the build-up (bench/layers.ts): the oracle from the bare Elysia app to
 *                       dist/caas one piece at a time, each step's server CPU per request, then exit
 *   --buildup-route R   which route's build-up: oracle (default), encrypt (one user), keyring, or
 *                       oracle-by-hand (the by-hand step from the hand-written oracle's work, one piece at a time)
 *   --paired R          also a paired run: the oracle and elysia-ref driven at the same fixed rate, R
 *                       requests per second each, at the same time, their server CPU per request
 *                       compared round by round (settles a difference within the noise of a full-load run)
 *   --no-pin            do not pin with taskset
 *   --out FILE          where to write the table (default bench/results/latest.md; "-" for nowhere)
 *
 * Why wrk and not an npm load generator: a C client on its own core costs the server nothing,
 * where a JavaScript one (autocannon) tops out near the rates measured here and would measure itself.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { makeTestPki, tempDir, type TestPki } from "./harness.ts";
import { BENCH_API_KEY, BUILDUP_PATHS, drivesOracle, type Layer } from "./buildup.ts";
import { README_USER } from "../support/constants.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    help: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    duration: { type: "string" },
    connections: { type: "string", default: "50" },
    "batch-size": { type: "string", default: "100" },
    "rss-requests": { type: "string" },
    only: { type: "string" },
    "no-build": { type: "boolean", default: false },
    "no-pin": { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results/latest.md") },
    before: { type: "string" },
    buildup: { type: "boolean", default: false },
    "buildup-route": { type: "string", default: "oracle" },
    paired: { type: "string" },
  },
  strict: true,
});
if (values.help) {
  // The options are written once, in this file's opening comment.
  const opening = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(readFileSync(import.meta.path, "utf8"))?.[1] ?? "";
  console.log(opening.replaceAll(/^ \* ?/gm, ""));
  process.exit(0);
}

function whole(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === "") return fallback;
  const number = Number(text.replaceAll(/[_,]/g, ""));
  if (!Number.isInteger(number) || number < 1) throw new Error(`bench: ${name} must be a whole number ≥ 1, not '${text}'`);
  return number;
}

const quick = values.quick;
const RUNS = whole(values.runs ?? process.env.BENCH_RUNS, quick ? 1 : 5, "--runs");
const DURATION = whole(values.duration ?? process.env.BENCH_DURATION, quick ? 2 : 10, "--duration");
const CONNECTIONS = whole(values.connections, 50, "--connections");
const BATCH_SIZE = whole(values["batch-size"], 100, "--batch-size");
const RSS_REQUESTS = whole(values["rss-requests"] ?? process.env.BENCH_RSS_REQUESTS, quick ? 30_000 : 1_000_000, "--rss-requests");
const RSS_FIRST = 10_000;
const CPUS = availableParallelism();
const PIN = !values["no-pin"] && CPUS >= 2 && Bun.which("taskset") !== null;
const SERVER_CPU = "1";
const CLIENT_CPU = "0";
const ONE_MIB = 1024 * 1024;
const LARGE_CONNECTIONS = Math.min(CONNECTIONS, 8);

if (Bun.which("wrk") === null) {
  console.error("bench: wrk is not installed (Debian: apt-get install wrk)");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Processes

const running = new Set<Subprocess>();

function stopAll(): void {
  for (const child of running) if (child.exitCode === null) child.kill("SIGTERM");
}
process.on("SIGINT", () => {
  stopAll();
  process.exit(130);
});

interface Server {
  readonly name: string;
  readonly port: number;
  /** caas's ops listener (CAAS_OPS_LISTEN), where it logged one. */
  readonly opsPort: number | undefined;
  readonly process: Subprocess<"ignore", "pipe", "pipe">;
  stop(): Promise<void>;
}

function pinned(command: string[], cpu: string | undefined): string[] {
  return PIN && cpu !== undefined ? ["taskset", "-c", cpu, ...command] : command;
}

async function startServer(
  name: string,
  command: string[],
  env: Record<string, string>,
  listening: RegExp,
  cpu: string | undefined,
): Promise<Server> {
  const child = Bun.spawn(pinned(command, cpu), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(child);
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) chunks.push(decoder.decode(chunk, { stream: true }));
  };
  void collect(child.stdout);
  void collect(child.stderr);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const match = listening.exec(chunks.join(""));
    if (match?.[1] !== undefined) {
      const port = Number(match[1]);
      const ops = /"opsUrl":"http:\/\/[^"]*:(\d+)"/.exec(chunks.join(""))?.[1];
      return {
        name,
        port,
        opsPort: ops === undefined ? undefined : Number(ops),
        process: child,
        async stop() {
          if (child.exitCode === null) child.kill("SIGTERM");
          await child.exited;
          running.delete(child);
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`bench: ${name} did not start (exit ${child.exitCode}):\n${chunks.join("")}`);
    await Bun.sleep(20);
  }
}

const CAAS_LISTENING = /"event":"listening"[^\n]*"url":"https:\/\/[^"]*:(\d+)"/;
const BASELINE_LISTENING = /^listening (\d+)$/m;

type BaselineMode = "fixed" | "echo" | "seal" | "seal-webcrypto" | "hmac" | SigningKind["row"];

function startBaseline(mode: BaselineMode, pki: TestPki, extra: readonly string[] = []): Promise<Server> {
  return startServer(
    `baseline-${mode}${extra.join("")}`,
    [process.execPath, "bench/baseline.ts", "--cert", pki.serverCert, "--key", pki.serverKey, "--mode", mode, ...extra],
    {},
    BASELINE_LISTENING,
    SERVER_CPU,
  );
}

// ---------------------------------------------------------------------------------------------
// Peers: what a team would otherwise pick, each hand-written in bench/peers/ and skipped, with a
// message, where its toolchain is missing.

const PEERS = join(ROOT, "bench/peers");

/** The Go oracle (Vault's stack: net/http, crypto/tls, crypto/cipher), built into the bench's directory. */
async function startGoOracle(pki: TestPki, dir: string): Promise<Server | undefined> {
  if (Bun.which("go") === null) {
    console.log("bench: go is not installed (Debian: apt-get install golang-go); the Go row is skipped");
    return undefined;
  }
  const binary = join(dir, "go-oracle");
  const built = Bun.spawnSync(["go", "build", "-o", binary, "."], {
    cwd: join(PEERS, "go"),
    env: { ...process.env, GOCACHE: join(tmpdir(), "caas-bench-gocache"), GOFLAGS: "-mod=mod" },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`bench: go build failed: ${built.stderr.toString()}`);
  return startServer("go-oracle", [binary, "-cert", pki.serverCert, "-key", pki.serverKey], {}, BASELINE_LISTENING, SERVER_CPU);
}

function startNodeOracle(pki: TestPki): Promise<Server> | undefined {
  const node = Bun.which("node");
  if (node === null) {
    console.log("bench: node is not installed; the Node.js row is skipped");
    return undefined;
  }
  return startServer(
    "node-oracle",
    [node, join(PEERS, "node-oracle.mjs"), pki.serverCert, pki.serverKey],
    {},
    BASELINE_LISTENING,
    SERVER_CPU,
  );
}

function freeLoopbackPort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** nginx answering a fixed JSON over TLS with one worker: what TLS and HTTP cost on this machine at best. */
async function startNginx(pki: TestPki, dir: string, fixedAnswer: string): Promise<Server | undefined> {
  const nginx = Bun.which("nginx") ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);
  if (nginx === null) {
    console.log("bench: nginx is not installed (Debian: apt-get install nginx); the nginx row is skipped");
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  const port = freeLoopbackPort();
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  const config = `worker_processes 1;
user root;
daemon off;
error_log stderr error;
pid ${join(dir, "nginx.pid")};
events { worker_connections 4096; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp).join("\n  ")}
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${pki.serverCert};
    ssl_certificate_key ${pki.serverKey};
    ssl_protocols TLSv1.3;
    keepalive_requests 100000000;
    location / {
      default_type application/json;
      return 200 '${fixedAnswer}';
    }
  }
}
`;
  const configFile = join(dir, "nginx.conf");
  writeFileSync(configFile, config);
  // nginx says nothing when it is up: the wrapper announces the port, and the bench then waits for it to answer.
  const server = await startServer(
    "nginx",
    ["sh", "-c", `echo listening ${port}; exec ${nginx} -p ${dir} -c ${configFile}`],
    {},
    BASELINE_LISTENING,
    SERVER_CPU,
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answered = await fetch(`https://127.0.0.1:${port}/`, { tls: { ca: pki.caCertPem } } as RequestInit).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) return server;
    if (Date.now() > deadline) throw new Error("bench: nginx did not answer");
    await Bun.sleep(50);
  }
}

function startLayer(layer: Layer, pki: TestPki, stateDir: string, route: BuiltUpRoute = "oracle"): Promise<Server> {
  return startServer(
    `layer-${route}-${layer}`,
    [
      process.execPath,
      "bench/layers.ts",
      "--cert",
      pki.serverCert,
      "--key",
      pki.serverKey,
      "--layer",
      layer,
      "--state-dir",
      stateDir,
      "--route",
      route,
    ],
    {},
    BASELINE_LISTENING,
    SERVER_CPU,
  );
}

function startCaas(
  name: string,
  binary: string,
  pki: TestPki,
  stateDir: string,
  keysFile: string,
  args: string[] = [],
  cpu: string | undefined = SERVER_CPU,
  env: Record<string, string> = {},
): Promise<Server> {
  return startServer(
    name,
    [binary, "serve", ...args],
    {
      HOME: stateDir,
      CAAS_PORT: "0",
      // A free port each, as for the API: several servers run at once. A build before the ops listener warns and ignores it.
      CAAS_OPS_LISTEN: "127.0.0.1:0",
      CAAS_STATE_DIR: join(stateDir, "state"),
      CAAS_TLS_CERT: pki.serverCert,
      CAAS_TLS_KEY: pki.serverKey,
      CAAS_API_KEYS_FILE: keysFile,
      ...keyringEnv(stateDir),
      ...env,
    },
    CAAS_LISTENING,
    cpu,
  );
}

/** CPU seconds (user + system) a process has used, from /proc; undefined where there is no /proc. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ");
    if (fields === undefined) return undefined;
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Until `pid` stops using CPU (no more than one clock tick in 200 ms), at most 15 s: a batch of
 * RSA signatures takes 50 ms a request, so when wrk stops, 50 connections' worth of work is still
 * queued in the server; measured while it drains, the next scenario would be charged for it.
 */
async function untilIdle(pid: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = cpuSeconds(pid);
  while (last !== undefined && Date.now() < deadline) {
    await Bun.sleep(200);
    const now = cpuSeconds(pid);
    if (now === undefined || now - last <= 0.01) return;
    last = now;
  }
}

function rssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Building

function run(command: string[]): void {
  const result = Bun.spawnSync(command, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (result.exitCode !== 0) throw new Error(`bench: '${command.join(" ")}' failed`);
}

const CAAS = join(ROOT, "dist/caas");

async function build(): Promise<void> {
  run([process.execPath, "run", "build.ts"]);
}

/** A root key and a keyring holding key "bench" beside each server's state (made once per directory). */
function keyringEnv(stateDir: string): Record<string, string> {
  const rootKey = join(stateDir, "root-key");
  const keyring = join(stateDir, "keyring.json");
  if (!existsSync(rootKey)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    for (const args of [
      ["root-key", "init", rootKey],
      ["keyring", "create", "bench", "--file", keyring, "--root-key", rootKey],
    ]) {
      const result = Bun.spawnSync([CAAS, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      if (result.exitCode !== 0) throw new Error(`bench: caas ${args[0]} failed: ${result.stderr.toString()}`);
    }
  }
  return { CAAS_ROOT_KEY_FILE: rootKey, CAAS_KEYRING_FILE: keyring };
}

// ---------------------------------------------------------------------------------------------
// Signing: caas's /keyring/{name}/sign and /hmac, single and batch, each beside a hand-written
// Bun.serve making the same node:crypto call (bench/baseline.ts). caas's rows need keys of a
// --type and the scope keyring:NAME:sign; on a build without them they are skipped with a
// message, and the hand-written rows still run.

interface SigningKind {
  /** The scenario's name, and the hand-written server's --mode. */
  readonly row: "sign-ed25519" | "sign-es256" | "sign-rs256" | "hmac-sha256";
  readonly label: string;
  /** `caas keyring create --type`. */
  readonly type: string;
  readonly operation: "sign" | "hmac";
  /** Fields each request or batch item carries beside "data". */
  readonly options: Readonly<Record<string, string>>;
  /**
   * wrk connections for the batch form. A batch of 100 RSA signatures takes about 50 ms of CPU,
   * so 50 connections queue 2.5 s of work behind each request and push p99 toward wrk's 10 s
   * timeout; 8, as for 1 MiB bodies, still keeps the server busy.
   */
  readonly batchConnections: number;
}

const SIGNING_KINDS: readonly SigningKind[] = [
  { row: "sign-ed25519", label: "Ed25519", type: "ed25519", operation: "sign", options: {}, batchConnections: CONNECTIONS },
  {
    row: "sign-es256",
    label: "ECDSA P-256 r‖s (ES256)",
    type: "ecdsa-p256",
    operation: "sign",
    options: {},
    batchConnections: CONNECTIONS,
  },
  // caas signs RSA with PSS unless asked for PKCS#1 v1.5; RS256 is PKCS#1 v1.5.
  {
    row: "sign-rs256",
    label: "RSA-2048 PKCS#1 v1.5 (RS256)",
    type: "rsa-2048",
    operation: "sign",
    options: { padding: "pkcs1" },
    batchConnections: LARGE_CONNECTIONS,
  },
  { row: "hmac-sha256", label: "HMAC-SHA-256", type: "hmac-sha256", operation: "hmac", options: {}, batchConnections: CONNECTIONS },
];

const signingKeyName = (kind: SigningKind) => `bench-${kind.type}`;
const answerField = (kind: SigningKind) => (kind.operation === "sign" ? "signature" : "hmac");

/** The signing keys beside the keyring of `stateDir` (keyringEnv's); why not, when this build cannot make them. */
function addSigningKeys(stateDir: string): string | undefined {
  const { CAAS_ROOT_KEY_FILE: rootKey, CAAS_KEYRING_FILE: keyring } = keyringEnv(stateDir);
  for (const kind of SIGNING_KINDS) {
    const args = ["keyring", "create", signingKeyName(kind), "--type", kind.type, "--file", keyring!, "--root-key", rootKey!];
    const result = Bun.spawnSync([CAAS, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0)
      return `caas keyring create --type ${kind.type} exited ${result.exitCode}: ${firstLine(result.stderr.toString())}`;
  }
  return undefined;
}

/** An API key with the sign scope of every signing key; why not, when this build refuses the scope. */
function addSigningApiKey(keysFile: string): { key: string } | { refused: string } {
  const scopes = SIGNING_KINDS.flatMap((kind) => ["--scope", `keyring:${signingKeyName(kind)}:sign`]);
  const result = Bun.spawnSync([CAAS, "keys", "add", "bench-sign", ...scopes, "--file", keysFile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const key = result.stdout.toString().trim().split("\n").at(-1);
  if (result.exitCode !== 0 || key === undefined || key === "")
    return { refused: `caas keys add --scope keyring:NAME:sign exited ${result.exitCode}: ${firstLine(result.stderr.toString())}` };
  return { key };
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/** How many strings under `field` anywhere in `value` are caas's versioned form. */
function versionedValues(value: unknown, field: string): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + versionedValues(item, field), 0);
  if (typeof value !== "object" || value === null) return 0;
  return Object.entries(value).reduce(
    (sum, [key, item]) => sum + (key === field && typeof item === "string" && item.startsWith("caas:v") ? 1 : versionedValues(item, field)),
    0,
  );
}

/** Why caas cannot serve a scenario (its status and error code), or undefined when it answers `expected` signatures or MACs. */
async function refusal(
  server: Server,
  path: string,
  body: string,
  headers: Record<string, string>,
  field: string,
  expected: number,
  trust: string,
) {
  const response = await fetch(`https://127.0.0.1:${server.port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    tls: { ca: trust },
  } as RequestInit);
  const answer: unknown = await response.json().catch(() => undefined);
  if (response.status === 200 && versionedValues(answer, field) === expected) return undefined;
  const code = (answer as { error?: { code?: unknown } } | undefined)?.error?.code;
  return `${response.status}${typeof code === "string" ? ` ${code}` : ""}`;
}

/** The same keys for a caas from before scopes existed, whose keys file takes no "scopes" field. */
/** The keys file as it is for a build that reads its scopes (so its keyring rows can run), else without them. */
function keysFileFor(binary: string, keysFile: string): string {
  const listed = Bun.spawnSync([binary, "keys", "list", "--file", keysFile], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return listed.exitCode === 0 ? keysFile : keysFileWithoutScopes(keysFile);
}

function keysFileWithoutScopes(keysFile: string): string {
  const file = JSON.parse(readFileSync(keysFile, "utf8")) as { keys: Record<string, unknown>[] };
  const path = `${keysFile}.before.json`;
  writeFileSync(path, JSON.stringify({ keys: file.keys.map(({ scopes: _scopes, ...key }) => key) }), { mode: 0o600 });
  return path;
}

function addApiKey(keysFile: string): string {
  // Every scope the scenarios need: the pseudonym routes and the keyring key "bench".
  const result = Bun.spawnSync([CAAS, "keys", "add", "bench", "--scope", "pseudonym", "--scope", "keyring:bench", "--file", keysFile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const key = result.stdout.toString().trim().split("\n").at(-1);
  if (result.exitCode !== 0 || key === undefined || key === "") throw new Error(`bench: caas keys add failed: ${result.stderr.toString()}`);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Load

interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly cpuMicrosPerRequest: number | undefined;
}

/** A wrk Lua script that POSTs one body and prints wrk's summary as one JSON line. */
function luaScript(dir: string, name: string, body: string, headers: Record<string, string>): string {
  const bodyFile = join(dir, `${name}.json`);
  writeFileSync(bodyFile, body);
  const headerLines = Object.entries({ "Content-Type": "application/json", ...headers })
    .map(([key, value]) => `wrk.headers[${JSON.stringify(key)}] = ${JSON.stringify(value)}`)
    .join("\n");
  const script = `wrk.method = "POST"
${headerLines}
local file = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
wrk.body = file:read("*a")
file:close()
function done(summary, latency, requests)
  io.write(string.format('\\nBENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
`;
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, script);
  return path;
}

/** A wrk Lua script that POSTs each body of `bodies` in turn, one per request: many users, not one. */
function luaCycleScript(dir: string, name: string, bodies: readonly string[], headers: Record<string, string>): string {
  const bodyFile = join(dir, `${name}.jsonl`);
  writeFileSync(bodyFile, `${bodies.join("\n")}\n`);
  const base = readFileSync(luaScript(dir, name, bodies[0] ?? "{}", headers), "utf8");
  const script = `${base}
local bodies = {}
for line in io.lines(${JSON.stringify(bodyFile)}) do bodies[#bodies + 1] = line end
local next_body = 0
function request()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
`;
  const path = join(dir, `${name}-cycle.lua`);
  writeFileSync(path, script);
  return path;
}

async function wrk(url: string, script: string, seconds: number, connections: number, cpuPid?: number): Promise<WrkResult> {
  const before = cpuPid === undefined ? undefined : cpuSeconds(cpuPid);
  const child = Bun.spawn(
    pinned(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "10s", "-s", script, url], CLIENT_CPU),
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const after = cpuPid === undefined ? undefined : cpuSeconds(cpuPid);
  const line = /^BENCH (\{.*\})$/m.exec(out)?.[1];
  if (line === undefined) throw new Error(`bench: wrk gave no summary for ${url}:\n${out}\n${err}`);
  const summary = JSON.parse(line) as Record<string, number>;
  const requests = summary.requests ?? 0;
  const secondsTaken = (summary.duration_us ?? 1) / 1e6;
  const cpu = before !== undefined && after !== undefined && requests > 0 ? ((after - before) * 1e6) / requests : undefined;
  return {
    requests,
    seconds: secondsTaken,
    rps: requests / secondsTaken,
    p50Ms: (summary.p50_us ?? 0) / 1000,
    p99Ms: (summary.p99_us ?? 0) / 1000,
    non2xx: summary.status ?? 0,
    socketErrors: (summary.connect ?? 0) + (summary.read ?? 0) + (summary.write ?? 0) + (summary.timeout ?? 0),
    cpuMicrosPerRequest: cpu,
  };
}

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly server: () => Server;
  readonly path: string;
  readonly script: string;
  readonly connections: number;
  /** False where the process started is not the one that answers (nginx's master), so its CPU is not the server's. */
  readonly measuresCpu?: boolean;
  /** Items per request (batch), or plaintext bytes per request (1 MiB), to turn req/s into the unit reported. */
  readonly perRequest?: number;
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const format = (n: number, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

// ---------------------------------------------------------------------------------------------
// Build-up: the oracle from the bare Elysia app to dist/caas, one piece at a time

const BY_HAND =
  "caas's per-request work with no framework: served's work by caas's own functions in a plain fetch (added: its difference from served)";

const ORACLE_STEPS: readonly (readonly [Layer, string])[] = [
  ["ref", "bare Elysia: one route, t.Object({ data: t.String() }), Bun's JSON parser, sealText"],
  ["headers", "+ the security headers (.headers())"],
  ["request", "+ onRequest: the answer's request id, the request-target check"],
  ["errors", "+ onError: error answers, audit settlement"],
  ["audit", "+ the audit plugin (a RequestAudit per request; no trail)"],
  ["parser", "+ caas's strict body reader as the parse hook"],
  ["schema", "+ caas's schema, unknown-field check, response schemas"],
  ["caller", "+ the oracle module (its caller derive, three routes)"],
  ["app", "caas's whole app (createApp), as Bun.serve's fetch"],
  ["served", "+ the metrics and rate-limit wrapper (gatedApp), as dist/caas serves it"],
  ["by-hand", BY_HAND],
];

type KeyedRoute = "encrypt" | "keyring";
/** The routes with a build-up to run (--buildup-route). */
type BuiltUpRoute = "oracle" | KeyedRoute | "oracle-by-hand";

const PLUMBING = "+ caas's plumbing: headers, request id and target check, onError, audit plugin, strict body reader";
const APP = "caas's whole app (createApp), as Bun.serve's fetch";
const SERVED = "+ the metrics and rate-limit wrapper (gatedApp), as dist/caas serves it";

/** Each route's steps and what each adds (bench/layers.ts), and the hand-written server it is set beside. */
const BUILDUPS = {
  oracle: { baseline: "seal", what: "raw Bun.serve + node:crypto seal", steps: ORACLE_STEPS },
  encrypt: {
    baseline: "hmac",
    what: "raw Bun.serve + one HMAC-SHA256 under a fixed key",
    steps: [
      ["ref", "bare Elysia: POST /encrypt, t.Object({ userUUID, sensitiveData }), the same fixed-key HMAC"],
      ["plumbing", PLUMBING],
      ["key", "+ the caller: the Bearer key hashed and looked up (Callers.authenticate), noted for the audit"],
      ["pseudonym", "+ the pseudonym instead of the fixed-key HMAC: UUID canonical form, the user's material from the memo, the pool HMAC"],
      ["module", "caas's pseudonym module in its place: its derive and scope check, schemas, four routes"],
      ["app", APP],
      ["served", SERVED],
    ],
  },
  keyring: {
    baseline: "seal",
    what: "raw Bun.serve + node:crypto seal (the hand-written oracle)",
    steps: [
      ["ref", "bare Elysia: POST /keyring/:name/encrypt, AES-256-GCM under a fixed key, random nonce, base64"],
      ["xaes", "+ XAES-256-GCM instead: its per-message key derivation (XaesKey.seal), 24-byte nonce"],
      ["framing", "+ the keyring's ciphertext: name and version as associated data, caas:vN: (KeyringKey.seal)"],
      ["plumbing", PLUMBING],
      ["key", "+ the caller: key lookup, scope, keyring lookup, audit notes (Callers.forKeyring)"],
      ["module", "caas's keyring module in its place: guard, observed key use, schemas, every keyring route"],
      ["app", APP],
      ["served", SERVED],
      ["by-hand", BY_HAND],
    ],
  },
  "oracle-by-hand": {
    baseline: "seal",
    what: "raw Bun.serve + node:crypto seal",
    steps: [
      ["plain", "the same work (request.json(), sealText, Response.json) in bench/layers.ts's process"],
      ["target", "+ the request-target check (request.url, targetProblem)"],
      ["request-id", "+ the request id (X-Request-Id read, else a random UUID)"],
      ["reader", "+ caas's strict body reader under the body budget instead of request.json()"],
      ["schema", "+ the compiled body and answer checks, the unknown-field check"],
      ["answer-headers", "+ caas's answer headers (security headers and X-Request-Id) instead of Response.json's"],
      ["audit", "+ a RequestAudit, error answers (try/catch)"],
      ["metrics", "+ the in-flight gauge and the route's metrics: the by-hand step"],
      ["headers-cloned", "the by-hand step, its answer headers a copy of a Headers made once, the request id set on it"],
      ["headers-entries", "the by-hand step, its answer headers a list of pairs"],
    ],
  },
} as const satisfies Record<BuiltUpRoute, { baseline: string; what: string; steps: readonly (readonly [Layer, string])[] }>;

/** Every step of the build-up against the hand-written oracle, interleaved; prints each step's CPU and what it added. */
async function buildUp(pki: TestPki, script: string, route: BuiltUpRoute): Promise<void> {
  const buildup = BUILDUPS[route];
  const handWritten = await startBaseline(buildup.baseline, pki);
  const steps: [string, string, Server][] = [["hand-written", buildup.what, handWritten]];
  for (const [layer, what] of buildup.steps)
    steps.push([layer, what, await startLayer(layer, pki, join(work, `layer-${route}-${layer}`), route)]);
  const url = (server: Server) => `https://127.0.0.1:${server.port}${BUILDUP_PATHS[route]}`;
  for (const [name, , server] of steps) {
    const warm = await wrk(url(server), script, Math.min(2, DURATION), CONNECTIONS);
    if (warm.non2xx > 0 || warm.requests === 0) throw new Error(`bench: ${name} answered ${warm.non2xx} non-2xx during warm-up`);
  }
  const results = new Map<string, WrkResult[]>(steps.map(([name]) => [name, []]));
  for (let round = 1; round <= RUNS; round++) {
    for (const [name, , server] of steps)
      results.get(name)!.push(await wrk(url(server), script, DURATION, CONNECTIONS, server.process.pid));
    console.log(`bench: build-up round ${round}/${RUNS} done (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  for (const [, , server] of steps) await server.stop();
  const cpu = (name: string) => median(results.get(name)!.map((result) => result.cpuMicrosPerRequest ?? Number.NaN));
  const rps = (name: string) => median(results.get(name)!.map((result) => result.rps));
  const lines = ["| step | what | req/s | server CPU µs/req | added µs |", "| --- | --- | --- | --- | --- |"];
  let before: number | undefined;
  for (const [name, what] of steps) {
    const now = cpu(name);
    const added = before === undefined || name === "ref" ? "" : format(now - before, 1);
    lines.push(`| ${name} | ${what} | ${format(rps(name))} | ${format(now, 1)} | ${added} |`);
    if (name !== "hand-written") before = now;
  }
  const report = `POST ${BUILDUP_PATHS[route]}\n\n${lines.join("\n")}\n\nwrk -t1 -c${CONNECTIONS}, ${RUNS} interleaved round(s) of ${DURATION} s, 64-byte text; ${PIN ? `wrk on CPU ${CLIENT_CPU}, servers on CPU ${SERVER_CPU}` : "not pinned"}; medians.\n`;
  console.log(`\n${report}`);
  if (values.out !== "-" && values.out !== join(ROOT, "bench/results/latest.md")) writeFileSync(values.out, report);
}

// ---------------------------------------------------------------------------------------------
// Paired: two servers at one fixed rate, in the same window

/** `script` with each of `connections` connections waiting so that all together send `rate` requests a second. */
function pacedScript(script: string, rate: number, connections: number): string {
  const paced = script.replace(/\.lua$/, `-paced-${rate}.lua`);
  writeFileSync(paced, `${readFileSync(script, "utf8")}\nfunction delay()\n  return ${(connections * 1000) / rate}\nend\n`);
  return paced;
}

/**
 * Both servers driven at `rate` requests a second each, by two wrk processes at once, so they share
 * the machine's noise; each round's CPU per request is compared. Below saturation the rate is the
 * same for both, so only the CPU each spends on it differs.
 */
async function pairedRun(
  [a, b]: readonly [Server, Server],
  path: string,
  script: string,
  rate: number,
): Promise<{
  readonly a: number;
  readonly b: number;
  readonly ratio: number;
  readonly rounds: number;
  readonly rps: readonly [number, number];
}> {
  const paced = pacedScript(script, rate, CONNECTIONS);
  const url = (server: Server) => `https://127.0.0.1:${server.port}${path}`;
  const cpus: [number[], number[]] = [[], []];
  const rates: [number[], number[]] = [[], []];
  for (let round = 0; round <= RUNS; round++) {
    const [ra, rb] = await Promise.all([
      wrk(url(a), paced, DURATION, CONNECTIONS, a.process.pid),
      wrk(url(b), paced, DURATION, CONNECTIONS, b.process.pid),
    ]);
    if (ra.non2xx + rb.non2xx > 0) throw new Error("bench: the paired run answered non-2xx");
    // The first round warms both up and is not counted.
    if (round === 0 || ra.cpuMicrosPerRequest === undefined || rb.cpuMicrosPerRequest === undefined) continue;
    cpus[0].push(ra.cpuMicrosPerRequest);
    cpus[1].push(rb.cpuMicrosPerRequest);
    rates[0].push(ra.rps);
    rates[1].push(rb.rps);
  }
  const ratios = cpus[0].map((cpu, index) => cpu / cpus[1][index]!);
  return {
    a: median(cpus[0]),
    b: median(cpus[1]),
    ratio: median(ratios),
    rounds: ratios.length,
    rps: [median(rates[0]), median(rates[1])],
  };
}

// ---------------------------------------------------------------------------------------------
// Main

const work = tempDir("caas-bench-");
const loadAverageBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const started = Date.now();

try {
  if (!values["no-build"]) await build();
  mkdirSync(join(work, "lua"), { recursive: true });
  mkdirSync(join(work, "pki"));
  const pki = makeTestPki(join(work, "pki"));
  const keysFile = join(work, "api-keys.json");
  const apiKey = addApiKey(keysFile);
  const signingApiKey = addSigningApiKey(keysFile);

  const text64 = "a".repeat(64);
  const user = README_USER;
  const lua = join(work, "lua");
  const singleBody = JSON.stringify({ data: text64 });
  const singleScript = luaScript(lua, "single", singleBody, {});
  const encryptScript = luaScript(lua, "encrypt", JSON.stringify({ userUUID: user, sensitiveData: text64 }), {
    Authorization: `Bearer ${apiKey}`,
  });
  // 10,000 users, each sent in turn: every request a user the server has not seen for 9,999 requests.
  const spreadUsers = Array.from({ length: 10_000 }, () => crypto.randomUUID());
  const encryptSpreadScript = luaCycleScript(
    lua,
    "encrypt-spread",
    spreadUsers.map((userUUID) => JSON.stringify({ userUUID, sensitiveData: text64 })),
    { Authorization: `Bearer ${apiKey}` },
  );
  const encryptBatchScript = luaScript(
    lua,
    "encrypt-batch",
    JSON.stringify({ items: spreadUsers.slice(0, BATCH_SIZE).map((userUUID) => ({ userUUID, sensitiveData: text64 })) }),
    { Authorization: `Bearer ${apiKey}` },
  );
  const batchScript = luaScript(lua, "batch", JSON.stringify({ items: Array.from({ length: BATCH_SIZE }, () => ({ data: text64 })) }), {});
  // Exactly 1 MiB on the wire, the default body limit: {"data":"…"} is 11 bytes of JSON around the text.
  const largeText = ONE_MIB - 11;
  const largeScript = luaScript(lua, "large", JSON.stringify({ data: "a".repeat(largeText) }), {});

  console.log(
    `bench: ${CPUS} CPUs (${cpus()[0]?.model ?? "unknown"}), ${PIN ? `wrk pinned to CPU ${CLIENT_CPU}, servers to CPU ${SERVER_CPU} (taskset)` : "not pinned"}`,
  );
  console.log(
    `bench: ${RUNS} round(s) of ${DURATION} s per scenario, wrk -t1 -c${CONNECTIONS} (1 MiB: -c${LARGE_CONNECTIONS}), load average ${loadAverageBefore}`,
  );

  if (values.buildup) {
    const route = values["buildup-route"];
    if (route !== "oracle" && route !== "encrypt" && route !== "keyring" && route !== "oracle-by-hand")
      throw new Error("bench: --buildup-route is oracle, encrypt, keyring or oracle-by-hand");
    // The keyed steps hold one in-memory API key (bench/buildup.ts), not the bench's keys file.
    const layersBearer = { Authorization: `Bearer ${BENCH_API_KEY}` };
    const script = drivesOracle(route)
      ? singleScript
      : route === "keyring"
        ? luaScript(lua, "buildup-keyring", singleBody, layersBearer)
        : luaScript(lua, "buildup-encrypt", JSON.stringify({ userUUID: user, sensitiveData: text64 }), layersBearer);
    await buildUp(pki, script, route);
    process.exit(0);
  }

  const ceiling = await startBaseline("fixed", pki);
  const echo = await startBaseline("echo", pki);
  const handWritten = await startBaseline("seal", pki);
  const handWrittenDeferred = await startBaseline("seal", pki, ["--deferred"]);
  const handWrittenWebCrypto = await startBaseline("seal-webcrypto", pki);
  const handWrittenHmac = await startBaseline("hmac", pki);
  const handWrittenSigners = new Map<SigningKind["row"], Server>();
  for (const kind of SIGNING_KINDS) handWrittenSigners.set(kind.row, await startBaseline(kind.row, pki));
  const nginx = await startNginx(pki, join(work, "nginx"), JSON.stringify({ data: text64 }));
  const goOracle = await startGoOracle(pki, work);
  const nodeOracle = await startNodeOracle(pki);
  const elysiaRef = await startLayer("ref", pki, join(work, "layer-ref"));
  const appOnly = await startLayer("app", pki, join(work, "layer-app"));
  const signingKeysRefused = addSigningKeys(join(work, "caas"));
  const caas = await startCaas("caas", CAAS, pki, join(work, "caas"), keysFile);
  // The same build writing its audit trail to a file in the bench's directory (one line per request).
  const audited = await startCaas("caas-audit", CAAS, pki, join(work, "caas-audit"), keysFile, [], SERVER_CPU, {
    CAAS_AUDIT_LOG: join(work, "audit.log"),
  });
  const caasBefore =
    values.before === undefined
      ? undefined
      : await startCaas(
          "caas-before",
          resolve(values.before),
          pki,
          join(work, "caas-before"),
          keysFileFor(resolve(values.before), keysFile),
        );
  // A ciphertext of the 64-byte text under keyring key "bench", for the decrypt and rewrap scenarios.
  const bearer = { Authorization: `Bearer ${apiKey}` };
  const sealedAnswer = await fetch(`https://127.0.0.1:${caas.port}/keyring/bench/encrypt`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer },
    body: singleBody,
    tls: { ca: pki.caCertPem },
  } as RequestInit);
  const { ciphertext } = (await sealedAnswer.json()) as { ciphertext: string };
  const keyringEncryptScript = luaScript(lua, "keyring-encrypt", singleBody, bearer);
  const keyringDecryptScript = luaScript(lua, "keyring-decrypt", JSON.stringify({ ciphertext }), bearer);
  const keyringRewrapScript = luaScript(lua, "keyring-rewrap", JSON.stringify({ ciphertext }), bearer);
  const keyringDatakeyScript = luaScript(lua, "keyring-datakey", "{}", bearer);
  const keyringBatchScript = luaScript(
    lua,
    "keyring-encrypt-batch",
    JSON.stringify({ items: Array.from({ length: BATCH_SIZE }, () => ({ data: text64 })) }),
    bearer,
  );

  // Signing: the hand-written rows always; caas's where it makes signing keys, takes the scope and answers each route.
  const signingBearer: Record<string, string> = "key" in signingApiKey ? { Authorization: `Bearer ${signingApiKey.key}` } : {};
  const signingCannot = signingKeysRefused ?? ("refused" in signingApiKey ? signingApiKey.refused : undefined);
  if (signingCannot !== undefined) console.log(`bench: this caas cannot sign (${signingCannot}); caas's sign and hmac rows are skipped`);
  const signingSkipped: string[] = [];
  const signingScenarios: Scenario[] = [];
  for (const kind of SIGNING_KINDS) {
    const item = { data: text64, ...kind.options };
    const path = `/keyring/${signingKeyName(kind)}/${kind.operation}`;
    const forms = [
      { name: kind.row, path, body: JSON.stringify(item), perRequest: 1, connections: CONNECTIONS },
      {
        name: `${kind.row}-batch`,
        path: `${path}/batch`,
        body: JSON.stringify({ items: Array.from({ length: BATCH_SIZE }, () => item) }),
        perRequest: BATCH_SIZE,
        connections: kind.batchConnections,
      },
    ];
    for (const form of forms) {
      const script = luaScript(lua, form.name, form.body, signingBearer);
      const handWrittenSigner = handWrittenSigners.get(kind.row)!;
      const batch = form.perRequest > 1 ? { perRequest: form.perRequest } : {};
      signingScenarios.push({
        name: `hand-written-${form.name}`,
        what: `raw Bun.serve + node:crypto ${kind.label}`,
        server: () => handWrittenSigner,
        path: form.path,
        script,
        connections: form.connections,
        ...batch,
      });
      const why =
        signingCannot ?? (await refusal(caas, form.path, form.body, signingBearer, answerField(kind), form.perRequest, pki.caCertPem));
      if (why === undefined)
        signingScenarios.push({
          name: form.name,
          what: `caas POST ${form.path}`,
          server: () => caas,
          path: form.path,
          script,
          connections: form.connections,
          ...batch,
        });
      else {
        signingSkipped.push(form.name);
        if (signingCannot === undefined) console.log(`bench: caas answers POST ${form.path} with ${why}; the ${form.name} row is skipped`);
      }
    }
  }

  const peer = (name: string, what: string, server: Server | undefined): Scenario[] =>
    server === undefined
      ? []
      : [{ name, what, server: () => server, path: "/oracleinvocation/", script: singleScript, connections: CONNECTIONS }];
  const scenarios: Scenario[] = [
    ...peer("nginx", "nginx, one worker: fixed JSON answer", nginx).map((scenario) => ({ ...scenario, measuresCpu: false })),
    ...peer("go-oracle", "Go net/http + crypto/tls + AES-256-GCM, hand-written", goOracle),
    ...peer("node-oracle", "Node.js https + node:crypto AES-256-GCM, hand-written", nodeOracle),
    {
      name: "hand-written-hmac",
      what: "raw Bun.serve + one HMAC-SHA256 (no validation, no key lookup)",
      server: () => handWrittenHmac,
      path: "/encrypt",
      script: encryptScript,
      connections: CONNECTIONS,
    },
    {
      name: "encrypt-spread",
      what: "caas POST /encrypt, 64 B, 10,000 users in turn",
      server: () => caas,
      path: "/encrypt",
      script: encryptSpreadScript,
      connections: CONNECTIONS,
    },
    {
      name: "encrypt-spread-audit",
      what: "caas POST /encrypt, 64 B, 10,000 users in turn, CAAS_AUDIT_LOG on",
      server: () => audited,
      path: "/encrypt",
      script: encryptSpreadScript,
      connections: CONNECTIONS,
    },
    {
      name: "encrypt-batch",
      what: `caas POST /encrypt/batch, ${BATCH_SIZE} users × 64 B`,
      server: () => caas,
      path: "/encrypt/batch",
      script: encryptBatchScript,
      connections: CONNECTIONS,
      perRequest: BATCH_SIZE,
    },
    {
      name: "ceiling",
      what: "raw Bun.serve: parse JSON, fixed JSON answer",
      server: () => ceiling,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "hand-written",
      what: "raw Bun.serve + node:crypto seal (no validation, no headers)",
      server: () => handWritten,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "hand-written-deferred",
      what: "the same, each answer let go at the end of its event-loop turn",
      server: () => handWrittenDeferred,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "elysia-ref",
      what: "bare Elysia: one route with a TypeBox body schema, the same seal",
      server: () => elysiaRef,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "caas-app",
      what: "caas's Elysia app as Bun.serve's fetch, no metrics wrapper",
      server: () => appOnly,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "oracle",
      what: "caas POST /oracleinvocation/, 64 B",
      server: () => caas,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    ...(caasBefore === undefined
      ? []
      : [
          {
            name: "oracle-before",
            what: `the same, ${values.before}`,
            server: () => caasBefore,
            path: "/oracleinvocation/",
            script: singleScript,
            connections: CONNECTIONS,
          },
          {
            name: "encrypt-before",
            what: `caas POST /encrypt, ${values.before}`,
            server: () => caasBefore,
            path: "/encrypt",
            script: encryptScript,
            connections: CONNECTIONS,
          },
          {
            name: "encrypt-spread-before",
            what: `caas POST /encrypt, 10,000 users, ${values.before}`,
            server: () => caasBefore,
            path: "/encrypt",
            script: encryptSpreadScript,
            connections: CONNECTIONS,
          },
          {
            name: "keyring-encrypt-before",
            what: `caas POST /keyring/bench/encrypt, ${values.before}`,
            server: () => caasBefore,
            path: "/keyring/bench/encrypt",
            script: keyringEncryptScript,
            connections: CONNECTIONS,
          },
        ]),
    {
      name: "hand-written-webcrypto",
      what: "raw Bun.serve + Web Crypto seal",
      server: () => handWrittenWebCrypto,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "oracle-audit",
      what: "caas POST /oracleinvocation/, 64 B, CAAS_AUDIT_LOG on",
      server: () => audited,
      path: "/oracleinvocation/",
      script: singleScript,
      connections: CONNECTIONS,
    },
    {
      name: "encrypt",
      what: "caas POST /encrypt, 64 B, API key header",
      server: () => caas,
      path: "/encrypt",
      script: encryptScript,
      connections: CONNECTIONS,
    },
    {
      name: "encrypt-audit",
      what: "caas POST /encrypt, 64 B, API key header, CAAS_AUDIT_LOG on",
      server: () => audited,
      path: "/encrypt",
      script: encryptScript,
      connections: CONNECTIONS,
    },
    {
      name: "batch",
      what: `caas POST /oracleinvocation/batch, ${BATCH_SIZE} × 64 B`,
      server: () => caas,
      path: "/oracleinvocation/batch",
      script: batchScript,
      connections: CONNECTIONS,
      perRequest: BATCH_SIZE,
    },
    {
      name: "keyring-encrypt",
      what: "caas POST /keyring/bench/encrypt, 64 B, Bearer key",
      server: () => caas,
      path: "/keyring/bench/encrypt",
      script: keyringEncryptScript,
      connections: CONNECTIONS,
    },
    {
      name: "keyring-decrypt",
      what: "caas POST /keyring/bench/decrypt, 64 B",
      server: () => caas,
      path: "/keyring/bench/decrypt",
      script: keyringDecryptScript,
      connections: CONNECTIONS,
    },
    {
      name: "keyring-rewrap",
      what: "caas POST /keyring/bench/rewrap, 64 B",
      server: () => caas,
      path: "/keyring/bench/rewrap",
      script: keyringRewrapScript,
      connections: CONNECTIONS,
    },
    {
      name: "keyring-datakey",
      what: "caas POST /keyring/bench/datakey",
      server: () => caas,
      path: "/keyring/bench/datakey",
      script: keyringDatakeyScript,
      connections: CONNECTIONS,
    },
    {
      name: "keyring-encrypt-batch",
      what: `caas POST /keyring/bench/encrypt/batch, ${BATCH_SIZE} × 64 B`,
      server: () => caas,
      path: "/keyring/bench/encrypt/batch",
      script: keyringBatchScript,
      connections: CONNECTIONS,
      perRequest: BATCH_SIZE,
    },
    ...signingScenarios,
    {
      name: "echo-1mib",
      what: "raw Bun.serve: parse + re-serialise 1 MiB JSON",
      server: () => echo,
      path: "/",
      script: largeScript,
      connections: LARGE_CONNECTIONS,
      perRequest: largeText,
    },
    {
      name: "oracle-1mib",
      what: "caas POST /oracleinvocation/, 1 MiB body",
      server: () => caas,
      path: "/oracleinvocation/",
      script: largeScript,
      connections: LARGE_CONNECTIONS,
      perRequest: largeText,
    },
  ];
  const only = values.only === undefined ? undefined : new Set(values.only.split(","));
  const chosen = scenarios.filter((scenario) => only === undefined || only.has(scenario.name) || ["ceiling"].includes(scenario.name));

  const urlOf = (scenario: Scenario) => `https://127.0.0.1:${scenario.server().port}${scenario.path}`;
  const results = new Map<string, WrkResult[]>(chosen.map((scenario) => [scenario.name, []]));

  // Warm-up (JIT, TLS sessions, caches): one short run each, not counted; also the smoke check
  // that every server answers what it will be sent with a 2xx.
  for (const scenario of chosen) {
    const warm = await wrk(urlOf(scenario), scenario.script, Math.min(2, DURATION), scenario.connections);
    if (warm.non2xx > 0 || warm.requests === 0)
      throw new Error(`bench: ${scenario.name} answered ${warm.non2xx} non-2xx of ${warm.requests} during warm-up`);
    await untilIdle(scenario.server().process.pid);
  }
  for (let round = 1; round <= RUNS; round++) {
    for (const scenario of chosen) {
      const cpuPid = scenario.measuresCpu === false ? undefined : scenario.server().process.pid;
      const result = await wrk(urlOf(scenario), scenario.script, DURATION, scenario.connections, cpuPid);
      results.get(scenario.name)!.push(result);
      await untilIdle(scenario.server().process.pid);
    }
    console.log(`bench: round ${round}/${RUNS} done (${Math.round((Date.now() - started) / 1000)} s)`);
  }

  // Multi-core: --workers 2, the server left unpinned (both CPUs), wrk still pinned to CPU 0.
  let workers: { rps: number[]; singleInRound: number[] } | undefined;
  if (only === undefined || only.has("workers-2")) {
    const supervised = await startCaas("caas-workers-2", CAAS, pki, join(work, "caas-workers"), keysFile, ["--workers", "2"], undefined);
    const url = `https://127.0.0.1:${supervised.port}/oracleinvocation/`;
    await Bun.sleep(500); // both workers listening
    await wrk(url, singleScript, Math.min(2, DURATION), CONNECTIONS);
    workers = { rps: [], singleInRound: [] };
    for (let round = 1; round <= RUNS; round++) {
      workers.rps.push((await wrk(url, singleScript, DURATION, CONNECTIONS)).rps);
      workers.singleInRound.push((await wrk(`https://127.0.0.1:${caas.port}/oracleinvocation/`, singleScript, DURATION, CONNECTIONS)).rps);
    }
    await supervised.stop();
  }

  const pairedRate = values.paired === undefined ? undefined : whole(values.paired, 0, "--paired");
  const paired = pairedRate === undefined ? undefined : await pairedRun([caas, elysiaRef], "/oracleinvocation/", singleScript, pairedRate);

  for (const server of [
    ceiling,
    echo,
    handWritten,
    handWrittenDeferred,
    elysiaRef,
    appOnly,
    handWrittenWebCrypto,
    handWrittenHmac,
    nginx,
    goOracle,
    nodeOracle,
    caas,
    audited,
    caasBefore,
    ...handWrittenSigners.values(),
  ])
    await server?.stop();

  // Memory: a fresh caas under one scenario's load until RSS_REQUESTS answers; VmRSS read from
  // /proc once the first 10,000 are answered and again at the end. The count is caas's own
  // (/metrics on the ops listener), of 200s on the routes `route` matches.
  interface Memory {
    readonly firstCount: number;
    readonly firstKiB: number;
    readonly lastCount: number;
    readonly lastKiB: number;
  }
  const memoryUnder = async (name: string, path: string, script: string, route: RegExp, signing: boolean): Promise<Memory | undefined> => {
    const stateDir = join(work, name);
    if (signing) addSigningKeys(stateDir);
    const fresh = await startCaas(name, CAAS, pki, stateDir, keysFile);
    const metricsUrl = `http://127.0.0.1:${fresh.opsPort}/metrics`;
    const answered = async (): Promise<number> => {
      const text = await (await fetch(metricsUrl)).text();
      let total = 0;
      for (const line of text.split("\n")) {
        const match = /^caas_requests_total\{[^}]*route="([^"]*)",status="200"\} (\d+)$/.exec(line);
        if (match?.[1] !== undefined && route.test(match[1])) total += Number(match[2]);
      }
      return total;
    };
    // wrk runs until caas's own count passes the mark (polled every 50 ms), then RSS is read at
    // once, still under load, and wrk is stopped; the next stretch starts a new wrk. A count that
    // stands still for 15 s (a route label this bench does not know) ends the run without a figure.
    const loadUntil = async (until: number): Promise<{ count: number; kiB: number } | undefined> => {
      const child = Bun.spawn(
        pinned(["wrk", "-t1", `-c${CONNECTIONS}`, "-d3600s", "-s", script, `https://127.0.0.1:${fresh.port}${path}`], CLIENT_CPU),
        {
          stdout: "ignore",
          stderr: "ignore",
        },
      );
      running.add(child);
      try {
        let last = { count: -1, at: Date.now() };
        for (;;) {
          const count = await answered();
          if (count >= until) return { count, kiB: rssKiB(fresh.process.pid) ?? 0 };
          if (child.exitCode !== null) throw new Error("bench: wrk stopped during the memory run");
          if (count !== last.count) last = { count, at: Date.now() };
          else if (Date.now() - last.at > 15_000) {
            console.log(`bench: caas's count of 200s on ${route} stood at ${count} for 15 s; the ${name} row has no figure`);
            return undefined;
          }
          await Bun.sleep(50);
        }
      } finally {
        child.kill("SIGTERM");
        await child.exited;
        running.delete(child);
      }
    };
    try {
      const first = await loadUntil(RSS_FIRST);
      const last = first === undefined ? undefined : await loadUntil(RSS_REQUESTS);
      return first === undefined || last === undefined
        ? undefined
        : { firstCount: first.count, firstKiB: first.kiB, lastCount: last.count, lastKiB: last.kiB };
    } finally {
      await fresh.stop();
    }
  };
  const oracleMemory =
    only === undefined || only.has("rss")
      ? await memoryUnder("caas-rss", "/oracleinvocation/", singleScript, /^\/oracleinvocation$/, false)
      : undefined;
  // Signing's memory: Ed25519 signatures, where caas answers them.
  const signingForMemory = signingScenarios.find((scenario) => scenario.name === "sign-ed25519");
  const signingMemory =
    signingForMemory !== undefined && (only === undefined || only.has("rss-sign"))
      ? await memoryUnder("caas-rss-sign", signingForMemory.path, signingForMemory.script, /^\/keyring\/[^/]+\/sign$/, true)
      : undefined;

  // -------------------------------------------------------------------------------------------
  // Report

  const loadAverageAfter = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const med = (name: string, pick: (result: WrkResult) => number) => {
    const list = results.get(name);
    return list === undefined || list.length === 0 ? undefined : median(list.map(pick));
  };
  /** The median over rounds of a ratio taken within each round, so a slow round slows both sides. */
  const ratio = (top: string, bottom: string, scale = 1) => {
    const a = results.get(top);
    const b = results.get(bottom);
    if (a === undefined || b === undefined || a.length === 0 || b.length === 0) return undefined;
    return median(a.map((result, index) => (result.rps * scale) / b[index]!.rps));
  };
  const spread = (name: string) => {
    const list = results.get(name)?.map((result) => result.rps) ?? [];
    if (list.length < 2) return "";
    const m = median(list);
    return ` (±${Math.round(((Math.max(...list) - Math.min(...list)) / 2 / m) * 100)}%)`;
  };
  const mark = (ok: boolean | undefined) => (ok === undefined ? "" : ok ? "✅" : "❌");
  const errorsOf = (name: string) => {
    const list = results.get(name) ?? [];
    const non2xx = list.reduce((sum, result) => sum + result.non2xx, 0);
    const socket = list.reduce((sum, result) => sum + result.socketErrors, 0);
    return `${non2xx} / ${socket}`;
  };
  const cpuOf = (name: string) => {
    const value = med(name, (result) => result.cpuMicrosPerRequest ?? Number.NaN);
    return value === undefined || Number.isNaN(value) ? "" : format(value, 1);
  };

  const rows: string[][] = [];
  const row = (name: string, what: string, throughput: string, versus: string, target: string) => {
    if (!results.has(name)) return;
    rows.push([
      name,
      what,
      throughput + spread(name),
      versus,
      `${format(med(name, (result) => result.p99Ms) ?? 0, 2)} ms`,
      errorsOf(name),
      cpuOf(name),
      target,
    ]);
  };
  const rps = (name: string) => `${format(med(name, (result) => result.rps) ?? 0)} req/s`;
  const itemsPerSecond = (name: string) => `${format((med(name, (result) => result.rps) ?? 0) * BATCH_SIZE)} items/s`;
  const p99 = (name: string) => med(name, (result) => result.p99Ms);
  /** p99 within 1.5× the hand-written server's in the same sitting. */
  const p99Within = (name: string, reference: string) => {
    const mine = p99(name);
    const theirs = p99(reference);
    return mine === undefined || theirs === undefined ? undefined : mine <= theirs * 1.5;
  };
  /** Server CPU per request within `factor`× another row's, as the median of per-round ratios. */
  const cpuWithin = (name: string, reference: string, factor: number) => {
    const a = results.get(name);
    const b = results.get(reference);
    if (a === undefined || b === undefined || a.length === 0 || b.length === 0) return undefined;
    const ratios = a.map((result, index) => (result.cpuMicrosPerRequest ?? Number.NaN) / (b[index]?.cpuMicrosPerRequest ?? Number.NaN));
    return ratios.some(Number.isNaN) ? undefined : median(ratios) <= factor;
  };
  const versus = (top: string, bottom: string, label = bottom, scale = 1) => {
    const value = ratio(top, bottom, scale);
    return value === undefined ? "" : `${format(value, 2)}× ${label}`;
  };
  const atLeast = (top: string, bottom: string, floor: number, label = bottom) => {
    const value = ratio(top, bottom);
    return `≥ ${format(floor, 2)}× ${label} ${mark(value === undefined ? undefined : value >= floor)}`;
  };
  const withCeiling = (name: string, others: string) => [versus(name, "ceiling"), others].filter((part) => part !== "").join(", ");

  row("nginx", "nginx, one worker: fixed JSON over TLS (the machine's TLS limit)", rps("nginx"), versus("nginx", "ceiling"), "");
  row("ceiling", "raw Bun.serve, parse JSON, fixed answer", rps("ceiling"), "1.00×", "");
  row(
    "hand-written-hmac",
    "raw Bun.serve + one HMAC-SHA256 per request",
    rps("hand-written-hmac"),
    versus("hand-written-hmac", "ceiling"),
    "",
  );
  row("hand-written", "raw Bun.serve + node:crypto AES-256-GCM seal", rps("hand-written"), versus("hand-written", "ceiling"), "");
  row(
    "hand-written-deferred",
    "the same, each answer let go at the end of its event-loop turn (setImmediate)",
    rps("hand-written-deferred"),
    versus("hand-written-deferred", "hand-written"),
    "",
  );
  row(
    "elysia-ref",
    "bare Elysia: new Elysia().post(path, ({ body }) => sealText(body.data), { body: t.Object(…) }) (the framework's own cost)",
    rps("elysia-ref"),
    withCeiling("elysia-ref", versus("elysia-ref", "hand-written")),
    "",
  );
  row(
    "caas-app",
    "caas's Elysia app as Bun.serve's fetch (no metrics wrapper)",
    rps("caas-app"),
    withCeiling("caas-app", versus("caas-app", "hand-written")),
    "",
  );
  row(
    "oracle",
    "caas POST /oracleinvocation/, 64 B",
    rps("oracle"),
    withCeiling("oracle", versus("oracle", "hand-written")),
    `${atLeast("oracle", "hand-written", 0.9)}; CPU ≤ 1.10× elysia-ref's ${mark(cpuWithin("oracle", "elysia-ref", 1.1))}; p99 ≤ 1.5× hand-written ${mark(p99Within("oracle", "hand-written"))}`,
  );
  row(
    "oracle-audit",
    "the same, audit trail written to a file",
    rps("oracle-audit"),
    versus("oracle-audit", "oracle"),
    atLeast("oracle-audit", "oracle", 0.9),
  );
  row(
    "oracle-before",
    `the same, ${values.before ?? ""}`,
    rps("oracle-before"),
    `this build is ${versus("oracle", "oracle-before", "it")}`,
    "",
  );
  row(
    "go-oracle",
    "Go net/http + crypto/tls + AES-256-GCM, hand-written",
    rps("go-oracle"),
    withCeiling("go-oracle", `caas's oracle is ${versus("oracle", "go-oracle", "it")}`),
    "",
  );
  row(
    "encrypt",
    "caas POST /encrypt, 64 B, Bearer key, one user",
    rps("encrypt"),
    withCeiling("encrypt", versus("encrypt", "hand-written-hmac")),
    `${atLeast("encrypt", "hand-written-hmac", 0.85)}; p99 ≤ 1.5× hand-written ${mark(p99Within("encrypt", "hand-written-hmac"))}`,
  );
  row(
    "encrypt-audit",
    "the same, audit trail written to a file",
    rps("encrypt-audit"),
    versus("encrypt-audit", "encrypt"),
    atLeast("encrypt-audit", "encrypt", 0.9),
  );
  for (const [name, what] of [
    ["encrypt-spread", "caas POST /encrypt, 10,000 users in turn"],
    ["encrypt-spread-audit", "the same, audit trail written to a file"],
  ] as const)
    row(name, what, rps(name), withCeiling(name, versus(name, "hand-written-hmac")), atLeast(name, "hand-written-hmac", 0.75));
  row(
    "encrypt-before",
    `caas POST /encrypt, ${values.before ?? ""}`,
    rps("encrypt-before"),
    `this build is ${versus("encrypt", "encrypt-before", "it")}`,
    "",
  );
  row(
    "encrypt-spread-before",
    `caas POST /encrypt, 10,000 users, ${values.before ?? ""}`,
    rps("encrypt-spread-before"),
    `this build is ${versus("encrypt-spread", "encrypt-spread-before", "it")}`,
    "",
  );
  row(
    "node-oracle",
    "Node.js https + node:crypto AES-256-GCM, hand-written",
    rps("node-oracle"),
    withCeiling("node-oracle", `caas's oracle is ${versus("oracle", "node-oracle", "it")}`),
    "",
  );
  row(
    "hand-written-webcrypto",
    "raw Bun.serve + Web Crypto seal",
    rps("hand-written-webcrypto"),
    versus("hand-written-webcrypto", "hand-written", "the node:crypto one"),
    "within 10% of node:crypto to prefer Web Crypto",
  );
  row(
    "keyring-encrypt",
    "caas POST /keyring/{name}/encrypt, 64 B, Bearer key",
    rps("keyring-encrypt"),
    versus("keyring-encrypt", "oracle"),
    atLeast("keyring-encrypt", "oracle", 0.85),
  );
  row(
    "keyring-encrypt-before",
    `caas POST /keyring/{name}/encrypt, ${values.before ?? ""}`,
    rps("keyring-encrypt-before"),
    `this build is ${versus("keyring-encrypt", "keyring-encrypt-before", "it")}`,
    "",
  );
  for (const name of ["keyring-decrypt", "keyring-rewrap", "keyring-datakey"])
    row(name, `caas POST /keyring/{name}/${name.slice("keyring-".length)}`, rps(name), versus(name, "keyring-encrypt"), "");
  const batchRatio = ratio("batch", "oracle", BATCH_SIZE);
  row(
    "batch",
    `caas /oracleinvocation/batch, ${BATCH_SIZE} × 64 B`,
    itemsPerSecond("batch"),
    versus("batch", "oracle", "single calls", BATCH_SIZE),
    `≥ 5× ${mark(batchRatio === undefined ? undefined : batchRatio >= 5)}`,
  );
  row(
    "encrypt-batch",
    `caas /encrypt/batch, ${BATCH_SIZE} users × 64 B`,
    itemsPerSecond("encrypt-batch"),
    versus("encrypt-batch", "encrypt-spread", "single calls of as many users", BATCH_SIZE),
    "",
  );
  row(
    "keyring-encrypt-batch",
    `caas /keyring/{name}/encrypt/batch, ${BATCH_SIZE} × 64 B`,
    itemsPerSecond("keyring-encrypt-batch"),
    versus("keyring-encrypt-batch", "keyring-encrypt", "single calls", BATCH_SIZE),
    "",
  );
  for (const kind of SIGNING_KINDS) {
    const handWritten = `hand-written-${kind.row}`;
    const route = `/keyring/{name}/${kind.operation}`;
    row(handWritten, `raw Bun.serve + node:crypto ${kind.label}, 64 B`, rps(handWritten), versus(handWritten, "ceiling"), "");
    row(
      kind.row,
      `caas POST ${route}, ${kind.label}, 64 B`,
      rps(kind.row),
      versus(kind.row, handWritten, "hand-written"),
      atLeast(kind.row, handWritten, 0.8, "hand-written"),
    );
    row(
      `${handWritten}-batch`,
      `raw Bun.serve + node:crypto ${kind.label}, ${BATCH_SIZE} × 64 B a request`,
      itemsPerSecond(`${handWritten}-batch`),
      versus(`${handWritten}-batch`, handWritten, "single calls", BATCH_SIZE),
      "",
    );
    row(
      `${kind.row}-batch`,
      `caas POST ${route}/batch, ${kind.label}, ${BATCH_SIZE} × 64 B`,
      itemsPerSecond(`${kind.row}-batch`),
      versus(`${kind.row}-batch`, `${handWritten}-batch`, "hand-written"),
      atLeast(`${kind.row}-batch`, `${handWritten}-batch`, 0.8, "hand-written"),
    );
  }
  const largeRatio = ratio("oracle-1mib", "echo-1mib");
  row(
    "echo-1mib",
    "raw Bun.serve, parse + re-serialise 1 MiB",
    `${format(((med("echo-1mib", (result) => result.rps) ?? 0) * largeText) / 1e6, 1)} MB/s`,
    "1.00×",
    "",
  );
  row(
    "oracle-1mib",
    "caas POST /oracleinvocation/, 1 MiB body",
    `${format(((med("oracle-1mib", (result) => result.rps) ?? 0) * largeText) / 1e6, 1)} MB/s`,
    versus("oracle-1mib", "echo-1mib", "echo"),
    `≥ 0.5× ${mark(largeRatio === undefined ? undefined : largeRatio >= 0.5)}`,
  );
  if (workers !== undefined) {
    const scale = median(workers.rps.map((value, index) => value / workers!.singleInRound[index]!));
    rows.push([
      "workers-2",
      "caas --workers 2, server unpinned, wrk on CPU 0",
      `${format(median(workers.rps))} req/s`,
      `${format(scale, 2)}× one pinned worker`,
      "",
      "",
      "",
      "reported, no target",
    ]);
  }
  for (const [name, memory, what] of [
    ["rss", oracleMemory, "oracle requests"],
    ["rss-sign", signingMemory, "Ed25519 sign requests"],
  ] as const) {
    if (memory === undefined) continue;
    const growth = (memory.lastKiB - memory.firstKiB) / memory.firstKiB;
    rows.push([
      name,
      `VmRSS after ${format(memory.firstCount)} and after ${format(memory.lastCount)} ${what}`,
      `${format(memory.firstKiB / 1024, 1)} → ${format(memory.lastKiB / 1024, 1)} MiB`,
      `${growth >= 0 ? "+" : ""}${format(growth * 100, 1)}%`,
      "",
      "",
      "",
      `within 10% ${mark(Math.abs(growth) <= 0.1)}${memory.lastCount < 1_000_000 ? ` (spec: 1,000,000; ran ${format(memory.lastCount)})` : ""}`,
    ]);
  }

  /** The oracle's server CPU per request, layer by layer: each step is the median difference of two rows above. */
  function whereTheTimeGoes(): string | undefined {
    const cpu = (name: string) => med(name, (result) => result.cpuMicrosPerRequest ?? Number.NaN);
    const steps: [string, string, string][] = [
      ["TLS, HTTP and JSON (the ceiling)", "", "ceiling"],
      ["AES-256-GCM seal with node:crypto", "ceiling", "hand-written"],
      ["Elysia with one TypeBox-checked route (elysia-ref)", "hand-written", "elysia-ref"],
      [
        "caas's app on Elysia: routing among its routes, strict body reader, schema checks, audit, answer mapping, request id, headers",
        "elysia-ref",
        "caas-app",
      ],
      ["metrics wrapper (in-flight, route, status, latency histogram)", "caas-app", "oracle"],
    ];
    const parts: string[] = [];
    for (const [label, from, to] of steps) {
      const top = cpu(to);
      const bottom = from === "" ? 0 : cpu(from);
      if (top === undefined || bottom === undefined || Number.isNaN(top) || Number.isNaN(bottom)) return undefined;
      parts.push(`${label} ${format(top - bottom, 1)} µs`);
    }
    return `Where the oracle's server CPU goes (µs per request, differences of the medians above): ${parts.join("; ")}.`;
  }

  const header = [
    "scenario",
    "what",
    `throughput (median of ${RUNS})`,
    "ratio (median of per-round ratios)",
    "p99",
    "non-2xx / socket errors",
    "server CPU µs/req",
    "target",
  ];
  const table = [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((cells) => `| ${cells.join(" | ")} |`),
  ].join("\n");
  const bunVersion = Bun.version;
  const context = [
    `Machine: ${CPUS} CPUs (${cpus()[0]?.model ?? "unknown"}), Linux, Bun ${bunVersion}; ${PIN ? `wrk pinned to CPU ${CLIENT_CPU}, each server to CPU ${SERVER_CPU} (taskset)` : "nothing pinned"}.`,
    `Load: wrk -t1 -c${CONNECTIONS} (1 MiB and RSA batches: -c${LARGE_CONNECTIONS}), ${RUNS} round(s) of ${DURATION} s per scenario, interleaved; TLS 1.3 over loopback, keep-alive, one openssl test certificate (P-256) for all.`,
    `Load average before ${loadAverageBefore}, after ${loadAverageAfter}; (±x%) is half the spread between the fastest and slowest round.`,
    `Command: \`bun run bench${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${Math.round((Date.now() - started) / 1000)} s.`,
    ...(signingCannot !== undefined
      ? [`caas's sign and hmac rows were skipped: this build cannot sign (${signingCannot}).`]
      : signingSkipped.length > 0
        ? [`Skipped, caas not answering their route: ${signingSkipped.join(", ")}.`]
        : []),
  ].join("\n");
  const layerCosts = whereTheTimeGoes();
  const pairedLine =
    paired === undefined || pairedRate === undefined
      ? ""
      : `Paired run: the oracle and elysia-ref at ${format(pairedRate)} req/s each (measured ${format(paired.rps[0])} and ${format(paired.rps[1])}), at the same time, ${paired.rounds} round(s) of ${DURATION} s: server CPU ${format(paired.a, 1)} and ${format(paired.b, 1)} µs/req, the oracle at ${format(paired.ratio, 2)}× elysia-ref's (median of per-round ratios; target ≤ 1.10× ${mark(paired.ratio <= 1.1)}).\n\n`;
  const report = `${table}\n\n${layerCosts === undefined ? "" : `${layerCosts}\n\n`}${pairedLine}${context}\n`;
  console.log(`\n${report}`);
  if (values.out !== "-") {
    mkdirSync(resolve(values.out, ".."), { recursive: true });
    writeFileSync(values.out, `# caas load benchmark\n\n${report}`);
    console.log(`bench: written to ${values.out}`);
  }
} finally {
  stopAll();
  rmSync(work, { recursive: true, force: true });
}
