/**
 * The soak: dist/caas at saturation with mixed endpoints for a long while (default 10 minutes),
 * then the verdict: no errors, and RSS after the run within 5% of RSS after warm-up.
 *
 *   bun bench/soak.ts [--duration 10m] [--connections 32] [--workers 1] [--engine wrk|bun]
 *
 * Load comes from wrk (C, so the load generator takes as little of the machine as it can) with a
 * Lua script that cycles through seal, open, /encrypt, /verify and /healthz; without wrk, from
 * a Bun client. Alongside, a checker does a full round trip every second and checks the
 * answers' contents (the box opens to what was sealed, /verify says true for the pseudonym
 * /encrypt gave and false for another), so "0 errors" means right answers, not just 200s.
 * RSS is the sum over caas's process tree (supervisor and workers), sampled every 2 s.
 * Exits 1 when there were errors or RSS grew by 5% or more.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cli, makeTestPki, startCaas, tempDir, type RunningCaas } from "./harness.ts";
import { README_USER } from "../support/constants.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    duration: { type: "string", default: "10m" },
    connections: { type: "string", default: "32" },
    workers: { type: "string", default: "1" },
    engine: { type: "string" },
  },
  strict: true,
});

function seconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (match === null) throw new Error(`soak: --duration '${text}' is not like 90s, 10m or 1h`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? "s") as "s" | "m" | "h"];
}

const durationSeconds = seconds(values.duration);
const connections = Number(values.connections);
const engine = values.engine ?? (Bun.which("wrk") === null ? "bun" : "wrk");
if (engine !== "wrk" && engine !== "bun") throw new Error("soak: --engine is wrk or bun");
const warmupSeconds = Math.min(60, Math.max(5, durationSeconds * 0.1));

// ---------------------------------------------------------------------------------------------
// The server under test

const files = tempDir("caas-soak-");
const keysFile = join(files, "keys.json");
const secretFile = join(files, "secret.json");
cli("secret", "init", secretFile);
const apiKey = cli("keys", "add", "soak", "--file", keysFile).trimEnd().split("\n").at(-1)!;
const pki = makeTestPki();
const caas: RunningCaas = await startCaas({
  pki,
  env: { CAAS_SECRET_FILE: secretFile, CAAS_API_KEYS_FILE: keysFile, CAAS_WORKERS: values.workers },
});

function rssOfTree(pid: number): number {
  let total = 0;
  const visit = (id: number) => {
    try {
      total += Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${id}/status`, "utf8"))?.[1] ?? 0) * 1024;
      for (const task of readFileSync(`/proc/${id}/task/${id}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) visit(Number(task));
    } catch {
      // a worker that just exited
    }
  };
  visit(pid);
  return total;
}

// ---------------------------------------------------------------------------------------------
// The mix: fixed bodies, made once against the server so that open and verify succeed.

const json = { "content-type": "application/json" };
const keyed = { ...json, "x-api-key": apiKey };
const sealBody = JSON.stringify({ data: "soak test plaintext, of a typical short length", aad: "order-42" });
const box = (await (await caas.post("/oracleinvocation", sealBody)).json()) as Record<string, string>;
const openBody = JSON.stringify({ ...box, aad: "order-42" });
const pseudonymBody = JSON.stringify({ userUUID: README_USER, sensitiveData: "soak sensitive data" });
const digest = ((await (await caas.post("/encrypt", pseudonymBody, { "x-api-key": apiKey })).json()) as { encrypted_data: string })
  .encrypted_data;
const verifyBody = JSON.stringify({ userUUID: README_USER, sensitiveData: "soak sensitive data", encrypted_data: digest });

interface MixEntry {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly weight: number;
}
const MIX: readonly MixEntry[] = [
  { method: "POST", path: "/oracleinvocation", headers: json, body: sealBody, weight: 3 },
  { method: "POST", path: "/oracleinvocation/decrypt", headers: json, body: openBody, weight: 3 },
  { method: "POST", path: "/encrypt", headers: keyed, body: pseudonymBody, weight: 3 },
  { method: "POST", path: "/verify", headers: keyed, body: verifyBody, weight: 2 },
  { method: "GET", path: "/healthz", headers: {}, weight: 1 },
];
const cycle = MIX.flatMap((entry) => Array<MixEntry>(entry.weight).fill(entry));

// ---------------------------------------------------------------------------------------------
// The checker: contents, not just statuses

let checks = 0;
const checkErrors: string[] = [];
async function checkOnce(): Promise<void> {
  checks++;
  try {
    const plaintext = `check ${checks} ${crypto.randomUUID()}`;
    const sealed = (await (await caas.post("/oracleinvocation", { data: plaintext })).json()) as Record<string, string>;
    const opened = (await (await caas.post("/oracleinvocation/decrypt", sealed)).json()) as { data?: string };
    if (opened.data !== plaintext) checkErrors.push(`check ${checks}: the box did not open to its plaintext`);
    const made = (await (
      await caas.post("/encrypt", { userUUID: README_USER, sensitiveData: plaintext }, { "x-api-key": apiKey })
    ).json()) as {
      encrypted_data?: string;
    };
    const verify = (encrypted_data: string) =>
      caas
        .post("/verify", { userUUID: README_USER, sensitiveData: plaintext, encrypted_data }, { "x-api-key": apiKey })
        .then((answer) => answer.json() as Promise<{ match?: boolean }>);
    if ((await verify(made.encrypted_data ?? "")).match !== true) checkErrors.push(`check ${checks}: /verify refused its own pseudonym`);
    if ((await verify(digest)).match !== false) checkErrors.push(`check ${checks}: /verify accepted another data's pseudonym`);
  } catch (error) {
    checkErrors.push(`check ${checks}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Load

interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly errorDetail: string;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
}

function luaString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

async function runWrk(): Promise<LoadResult> {
  const script = join(files, "mix.lua");
  const requests = cycle.map(
    (entry) =>
      `wrk.format(${luaString(entry.method)}, ${luaString(entry.path)}, {${Object.entries(entry.headers)
        .map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`)
        .join(", ")}}, ${entry.body === undefined ? "nil" : luaString(entry.body)})`,
  );
  writeFileSync(
    script,
    `local requests = {}\nlocal i = 0\ninit = function(args)\n${requests.map((request, index) => `  requests[${index + 1}] = ${request}`).join("\n")}\nend\nrequest = function()\n  i = i % ${requests.length} + 1\n  return requests[i]\nend\n`,
  );
  const wrk = Bun.spawn(
    ["wrk", "-t1", `-c${connections}`, `-d${durationSeconds}s`, "--timeout", "10s", "--latency", "-s", script, caas.url],
    { stdout: "pipe", stderr: "pipe" },
  );
  const output = await new Response(wrk.stdout).text();
  await wrk.exited;
  const total = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, count) => sum + Number(count), 0);
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(output);
    if (match === null) return Number.NaN;
    return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as "us" | "ms" | "s"];
  };
  if (total === 0) throw new Error(`soak: wrk ran no requests:\n${output}${await new Response(wrk.stderr).text()}`);
  return {
    requests: total,
    errors: non2xx + socketErrors,
    errorDetail: `non-2xx ${non2xx}, socket ${socket?.[0] ?? "none"}`,
    latencyMs: { p50: percentile("50"), p99: percentile("99") },
  };
}

async function runBunClient(): Promise<LoadResult> {
  const deadline = performance.now() + durationSeconds * 1000;
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  const byStatus = new Map<string, number>();
  await Promise.all(
    Array.from({ length: connections }, async (_, lane) => {
      for (let i = lane; performance.now() < deadline; i++) {
        const entry = cycle[i % cycle.length]!;
        const started = performance.now();
        try {
          const answer = await caas.request(entry.path, {
            method: entry.method,
            headers: entry.headers,
            ...(entry.body === undefined ? {} : { body: entry.body }),
          });
          await answer.arrayBuffer();
          if (answer.status !== 200) {
            errors++;
            byStatus.set(String(answer.status), (byStatus.get(String(answer.status)) ?? 0) + 1);
          }
        } catch (error) {
          errors++;
          const name = error instanceof Error ? (error.name ?? "Error") : "thrown";
          byStatus.set(name, (byStatus.get(name) ?? 0) + 1);
        }
        requests++;
        if (requests % 16 === 0) latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { requests, errors, errorDetail: JSON.stringify(Object.fromEntries(byStatus)), latencyMs: { p50: at(0.5), p99: at(0.99) } };
}

// ---------------------------------------------------------------------------------------------
// Run

const pid = caas.process.pid;
const samples: { t: number; rss: number }[] = [];
const started = performance.now();
const sampler = setInterval(() => samples.push({ t: (performance.now() - started) / 1000, rss: rssOfTree(pid) }), 2_000);
const checker = setInterval(() => void checkOnce(), 1_000);
console.log(
  `soak: ${durationSeconds} s, ${connections} connections, ${values.workers} worker(s), load from ${engine}; warm-up ${warmupSeconds} s`,
);
const rssStart = rssOfTree(pid);
const load = engine === "wrk" ? await runWrk() : await runBunClient();
clearInterval(checker);
clearInterval(sampler);
await checkOnce();
const elapsed = (performance.now() - started) / 1000;
const rssEnd = rssOfTree(pid);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const warm = samples.filter((sample) => sample.t >= warmupSeconds);
const rssWarm = median(warm.slice(0, 5).map((sample) => sample.rss));
const rssFinal = median([...warm.slice(-5).map((sample) => sample.rss), rssEnd]);
const rssPeak = Math.max(rssEnd, ...samples.map((sample) => sample.rss));
const growth = (rssFinal - rssWarm) / rssWarm;
const alive = caas.process.exitCode === null && (await caas.request("/healthz")).status === 200;
const internalErrors = (caas.output().match(/"internal_error"/g) ?? []).length;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const report = {
  durationSeconds: Math.round(elapsed),
  engine,
  connections,
  workers: Number(values.workers),
  requests: load.requests,
  requestsPerSecond: Math.round(load.requests / durationSeconds),
  loadErrors: load.errors,
  loadErrorDetail: load.errorDetail,
  contentChecks: checks,
  contentCheckErrors: checkErrors.length,
  internalErrorsLogged: internalErrors,
  latencyMs: load.latencyMs,
  rss: {
    start: mib(rssStart),
    afterWarmup: mib(rssWarm),
    end: mib(rssFinal),
    peak: mib(rssPeak),
    growthPercent: Math.round(growth * 1000) / 10,
  },
  serverAlive: alive,
};
console.log(JSON.stringify(report, null, 2));
for (const error of checkErrors.slice(0, 10)) console.log(`  ${error}`);
await caas.stop();
const ok = load.errors === 0 && checkErrors.length === 0 && internalErrors === 0 && alive && growth < 0.05;
console.log(ok ? "soak: PASS (0 errors, RSS growth < 5%)" : "soak: FAIL");
process.exit(ok ? 0 : 1);
