/**
 * Start-up and idle memory of the executable: `bun run bench:startup [-- options]`.
 *
 * One run spawns `caas serve` and polls https://127.0.0.1:PORT/healthz (a new TLS connection
 * each try, 1 ms apart) until it answers 200: the time from spawn to that answer is the
 * start-up. The process then sits idle for a second and its VmRSS is read from /proc/PID/status,
 * then it gets SIGTERM. Beside the wall time, the CPU time the process had used by then (every
 * thread's, from /proc/PID/task/TID/schedstat; for --version, its rusage): on this shared machine
 * the wall time carries other processes' load, the CPU time much less of it. Variants:
 *   configured  a certificate, secret and keys file given (what production does)
 *   ad-hoc      no certificate: an EC key and a self-signed certificate are made at start
 *   --version   spawn to exit of `caas --version`: the floor any command pays
 *   floor       a bare Bun.serve over TLS answering /healthz, compiled as dist/caas is: what Bun
 *               itself costs to start, measured in the same sitting
 * Targets: configured start-up median ≤ 1.5× the floor's, idle RSS ≤ the floor's + 15 MiB.
 *
 *   --binary FILE   the executable (default dist/caas; build it first with `bun run build`)
 *   --compare FILE  a second build (an earlier dist/caas, say), its variants interleaved with the first's
 *   --runs N        runs per variant (default 15, at least 10)
 *   --json          print the figures as JSON instead of a table
 *   --phases        instead: caas's own part of a start, phase by phase (bench/startup-phases.ts,
 *                   compiled alike), medians of --runs runs
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeTestPki, tempDir } from "./harness.ts";

export interface StartupFigures {
  readonly variant: string;
  readonly runs: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Median CPU time (user and system, every thread) from spawn to the first answer, or to exit for --version. */
  readonly cpuMs: number;
  /** Idle VmRSS after the first answer and one second of rest; absent for --version. */
  readonly rssMiB?: number;
  /** Of which private (RssAnon): the process's own heap and stacks. */
  readonly anonMiB?: number;
  /** Of which file-backed (RssFile): clean pages of the executable, shared by every worker and reclaimable. */
  readonly fileMiB?: number;
}

interface Memory {
  readonly rssMiB: number;
  readonly anonMiB: number;
  readonly fileMiB: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function summarise(variant: string, times: readonly number[], cpu: readonly number[], memory: readonly Memory[]): StartupFigures {
  return {
    variant,
    runs: times.length,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    cpuMs: median(cpu),
    ...(memory.length === 0
      ? {}
      : {
          rssMiB: median(memory.map((sample) => sample.rssMiB)),
          anonMiB: median(memory.map((sample) => sample.anonMiB)),
          fileMiB: median(memory.map((sample) => sample.fileMiB)),
        }),
  };
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, exclusive: true, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]) / 1024;
  return { rssMiB: mib("VmRSS"), anonMiB: mib("RssAnon"), fileMiB: mib("RssFile") };
}

/** CPU time used so far by every live thread of a process: the first field of each thread's schedstat, in nanoseconds. */
function cpuMsOf(pid: number): number {
  let nanoseconds = 0;
  for (const thread of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread has just exited.
    }
  }
  return nanoseconds / 1e6;
}

/** A certificate, a secret and a keys file made once, shared by every run and binary. */
export interface StartupFixture {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly caPem: string;
  dispose(): void;
}

export function makeStartupFixture(binary: string): StartupFixture {
  const dir = tempDir("caas-startup-");
  const pki = makeTestPki(dir);
  const secret = join(dir, "secret.json");
  const keys = join(dir, "keys.json");
  for (const args of [
    ["secret", "init", secret],
    ["keys", "add", "bench", "--file", keys],
  ]) {
    const made = Bun.spawnSync([binary, ...args], { stdout: "ignore", stderr: "pipe" });
    if (made.exitCode !== 0) throw new Error(`caas ${args.join(" ")}: ${made.stderr.toString()}`);
  }
  return {
    dir,
    caPem: pki.caCertPem,
    env: { CAAS_TLS_CERT: pki.serverCert, CAAS_TLS_KEY: pki.serverKey, CAAS_SECRET_FILE: secret, CAAS_API_KEYS_FILE: keys },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** One start: milliseconds from spawn to the first 200 over TLS, and the idle RSS after it. */
async function startOnce(binary: string, env: Record<string, string>, caPem: string | undefined, measureRss: boolean): Promise<Sample> {
  const port = freePort();
  const home = tempDir("caas-startup-home-");
  const started = performance.now();
  const child = Bun.spawn([binary, "serve"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      CAAS_STATE_DIR: join(home, "state"),
      CAAS_PORT: String(port),
      CAAS_LOG_LEVEL: "warn",
      ...env,
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const tls = caPem === undefined ? { rejectUnauthorized: false } : { ca: caPem };
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`caas exited ${child.exitCode}: ${await new Response(child.stderr).text()}`);
      const answered = await fetch(`https://127.0.0.1:${port}/healthz`, { tls, keepalive: false } as RequestInit).then(
        (response) => response.status === 200,
        () => false,
      );
      if (answered) break;
      if (performance.now() - started > 10_000) throw new Error("caas did not answer within 10 s");
      await Bun.sleep(1);
    }
    const ms = performance.now() - started;
    const cpuMs = cpuMsOf(child.pid);
    if (!measureRss) return { ms, cpuMs };
    await Bun.sleep(1_000);
    return { ms, cpuMs, memory: memoryOf(child.pid) };
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    rmSync(home, { recursive: true, force: true });
  }
}

export type StartupVariant = "configured" | "ad-hoc" | "--version";

interface Sample {
  readonly ms: number;
  readonly cpuMs: number;
  readonly memory?: Memory;
}

/** One measured start of one variant. */
async function runOnce(binary: string, fixture: StartupFixture, variant: StartupVariant, measureRss: boolean): Promise<Sample> {
  if (variant === "--version") {
    const started = performance.now();
    const done = Bun.spawnSync([binary, "--version"], { stdout: "ignore", stderr: "ignore" });
    if (done.exitCode !== 0) throw new Error(`${binary} --version exited ${done.exitCode}`);
    const { user, system } = done.resourceUsage.cpuTime;
    return { ms: performance.now() - started, cpuMs: Number(user + system) / 1000 };
  }
  if (variant === "configured") return startOnce(binary, fixture.env, fixture.caPem, measureRss);
  // The secret and keys stay configured, so only the certificate differs.
  const { CAAS_TLS_CERT: _cert, CAAS_TLS_KEY: _key, ...rest } = fixture.env;
  return startOnce(binary, rest, undefined, measureRss);
}

/**
 * Every (binary, variant) pair, `runs` times, interleaved run by run so that the machine's noise
 * falls on all of them alike. One unmeasured round first warms the page cache. RSS is taken on
 * the first three runs (each costs an idle second).
 */
export async function measureStartup(
  binaries: readonly string[],
  runs: number,
  fixture: StartupFixture,
  variants: readonly StartupVariant[] = ["configured", "ad-hoc", "--version"],
): Promise<(StartupFigures & { binary: string })[]> {
  return measurePairs(
    binaries.flatMap((binary) => variants.map((variant) => ({ binary, variant }))),
    runs,
    fixture,
  );
}

export async function measurePairs(
  targets: readonly { binary: string; variant: StartupVariant }[],
  runs: number,
  fixture: StartupFixture,
): Promise<(StartupFigures & { binary: string })[]> {
  const pairs = targets.map(({ binary, variant }) => ({
    binary,
    variant,
    times: [] as number[],
    cpu: [] as number[],
    memory: [] as Memory[],
  }));
  for (let run = -1; run < runs; run++) {
    for (const pair of pairs) {
      const result = await runOnce(pair.binary, fixture, pair.variant, run >= 0 && run < 3);
      if (run < 0) continue;
      pair.times.push(result.ms);
      pair.cpu.push(result.cpuMs);
      if (result.memory !== undefined) pair.memory.push(result.memory);
    }
  }
  return pairs.map((pair) => ({ binary: pair.binary, ...summarise(pair.variant, pair.times, pair.cpu, pair.memory) }));
}

export function formatTable(rows: readonly (StartupFigures & { label?: string })[]): string {
  const lines = [
    "| variant | runs | start-up median | min | max | CPU to the first answer | idle RSS | of which private | of which executable pages |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const mib = (value: number | undefined) => (value === undefined ? "" : `${value.toFixed(1)} MiB`);
  for (const row of rows) {
    lines.push(
      `| ${row.label ?? row.variant} | ${row.runs} | ${row.medianMs.toFixed(1)} ms | ${row.minMs.toFixed(1)} | ${row.maxMs.toFixed(1)} | ${row.cpuMs.toFixed(1)} ms | ${mib(row.rssMiB)} | ${mib(row.anonMiB)} | ${mib(row.fileMiB)} |`,
    );
  }
  return lines.join("\n");
}

/** The floor: a bare Bun.serve over TLS answering /healthz, compiled like dist/caas. What Bun itself costs. */
async function buildFloor(dir: string): Promise<string> {
  const entry = join(dir, "floor.ts");
  await Bun.write(
    entry,
    `import { readFileSync } from "node:fs";
const env = process.env;
Bun.serve({ hostname: "127.0.0.1", port: Number(env.CAAS_PORT), tls: { cert: readFileSync(env.CAAS_TLS_CERT, "utf8"), key: readFileSync(env.CAAS_TLS_KEY, "utf8") }, fetch: () => Response.json({ status: "ok" }) });
`,
  );
  return compileLikeCaas(entry, join(dir, "floor"));
}

/** The Elysia floor (bench/startup-elysia.ts), compiled like dist/caas: what Bun and the framework cost to start. */
function buildElysiaFloor(dir: string): Promise<string> {
  return compileLikeCaas(join(import.meta.dir, "startup-elysia.ts"), join(dir, "elysia-floor"));
}

async function compileLikeCaas(entry: string, outfile: string): Promise<string> {
  const result = await Bun.build({
    entrypoints: [entry],
    compile: { outfile },
    bytecode: true,
    minify: { whitespace: true, syntax: true },
  });
  if (!result.success) throw new Error(`bench:startup: building ${outfile} failed: ${result.logs.join("\n")}`);
  return outfile;
}

/** bench/startup-phases.ts compiled like dist/caas and run `runs` times: each phase's median, in milliseconds. */
async function measurePhases(runs: number): Promise<void> {
  const dir = tempDir("caas-startup-phases-");
  try {
    const binary = await compileLikeCaas(join(import.meta.dir, "startup-phases.ts"), join(dir, "phases"));
    const samples = new Map<string, number[]>();
    for (let run = 0; run < runs; run++) {
      const result = Bun.spawnSync([binary], { stdout: "pipe", stderr: "inherit" });
      if (result.exitCode !== 0) throw new Error(`bench:startup: the phases probe exited ${result.exitCode}`);
      for (const [phase, ms] of Object.entries(JSON.parse(result.stdout.toString()) as Record<string, number>))
        samples.set(phase, [...(samples.get(phase) ?? []), ms]);
    }
    console.log(`caas's own part of a start, compiled like dist/caas, median of ${runs} runs\n`);
    console.log("| phase | ms |\n| --- | ---: |");
    for (const [phase, values] of samples) console.log(`| ${phase} | ${median(values).toFixed(1)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      binary: { type: "string", default: "dist/caas" },
      compare: { type: "string" },
      runs: { type: "string", default: "15" },
      json: { type: "boolean", default: false },
      phases: { type: "boolean", default: false },
    },
    strict: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 10) throw new Error("bench:startup: --runs must be a whole number ≥ 10");
  if (values.phases) {
    await measurePhases(runs);
    process.exit(0);
  }
  const binary = resolve(values.binary);
  if (!(Bun.file(binary).size > 0)) throw new Error(`bench:startup: ${binary} is missing; run 'bun run build' first`);
  const compare = values.compare === undefined ? undefined : resolve(values.compare);
  if (compare !== undefined && !(Bun.file(compare).size > 0)) throw new Error(`bench:startup: ${compare} is missing`);
  const fixture = makeStartupFixture(binary);
  try {
    const floor = await buildFloor(fixture.dir);
    const elysiaFloor = await buildElysiaFloor(fixture.dir);
    const targets = [
      ...[binary, ...(compare === undefined ? [] : [compare])].flatMap((file) =>
        (["configured", "ad-hoc", "--version"] as const).map((variant) => ({ binary: file, variant })),
      ),
      { binary: floor, variant: "configured" as const },
      { binary: elysiaFloor, variant: "configured" as const },
    ];
    const figures = (await measurePairs(targets, runs, fixture)).map((row) => ({
      ...row,
      ...(row.binary === floor ? { label: "floor: bare Bun.serve with TLS, compiled alike" } : {}),
      ...(row.binary === elysiaFloor ? { label: "Elysia floor: the reference Elysia app and /healthz over TLS, compiled alike" } : {}),
      ...(row.binary === compare ? { label: `${row.variant}, ${values.compare}` } : {}),
    }));
    if (values.json) console.log(JSON.stringify(figures, null, 2));
    else {
      console.log(
        `${binary} (${(Bun.file(binary).size / 1024 / 1024).toFixed(1)} MiB), ${runs} runs each; variants interleaved; RSS: median of the first 3 runs, 1 s idle after the first answer`,
      );
      console.log(formatTable(figures));
      const configured = figures.find((row) => row.variant === "configured" && row.binary === binary)!;
      const bare = figures.find((row) => row.binary === floor)!;
      const ratio = configured.medianMs / bare.medianMs;
      const cpuRatio = configured.cpuMs / bare.cpuMs;
      const extra = (configured.rssMiB ?? 0) - (bare.rssMiB ?? 0);
      console.log(
        `targets: start-up ≤ 1.5× the floor (${ratio.toFixed(2)}×, ${ratio <= 1.5 ? "met" : "MISSED"}; CPU ${cpuRatio.toFixed(2)}×), idle RSS ≤ the floor + 15 MiB (+${extra.toFixed(1)} MiB, ${extra <= 15 ? "met" : "MISSED"})`,
      );
    }
  } finally {
    fixture.dispose();
  }
}
