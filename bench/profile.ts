/**
 * Where the JavaScript time goes under load: `bun run bench:profile [-- options]` starts caas from
 * its sources under Bun's CPU profiler (`bun --cpu-prof`), drives one route with wrk as the load
 * benchmark does (wrk on CPU 0, caas on CPU 1), stops caas with SIGINT so the profile is written,
 * and prints the functions with the most self and inclusive time. The .cpuprofile it keeps opens
 * as a flame graph in Chrome DevTools (Performance) or https://www.speedscope.app.
 *
 *   --route oracle|encrypt|keyring   what to load (default oracle: POST /oracleinvocation/, 64 B of
 *                            text; keyring: POST /keyring/bench/encrypt, the same text)
 *   --seconds S              how long wrk runs (default 10)
 *   --top N                  rows per list (default 25)
 *   --out FILE               where to keep the profile (default bench/results/<route>.cpuprofile)
 *
 * Bun's profiler samples the JavaScript thread; time in Bun's native code (TLS, HTTP, the
 * collector) shows up as "(native)" and can only be split by taking layers off (bun run bench).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeTestPki, tempDir } from "./harness.ts";
import { README_USER } from "../support/constants.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    route: { type: "string", default: "oracle" },
    seconds: { type: "string", default: "10" },
    top: { type: "string", default: "25" },
    out: { type: "string" },
  },
  strict: true,
});
const route = values.route;
if (route !== "oracle" && route !== "encrypt" && route !== "keyring")
  throw new Error("bench:profile: --route is oracle, encrypt or keyring");
const seconds = Number(values.seconds);
const top = Number(values.top);
if (!(seconds > 0) || !Number.isInteger(top) || top < 1) throw new Error("bench:profile: --seconds and --top must be positive numbers");
if (Bun.which("wrk") === null) throw new Error("bench:profile: wrk is not installed (Debian: apt-get install wrk)");
const pin = (cpu: string, command: string[]) => (Bun.which("taskset") === null ? command : ["taskset", "-c", cpu, ...command]);

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/**
 * Self and inclusive microseconds per function (name, file and line), from the samples of a
 * .cpuprofile that fall inside the load: the profiler also samples start-up and the idle
 * shutdown grace, and charges their waiting to whatever frame was last seen. Samples are placed
 * on our clock by aligning the profile's last sample with the moment the process exited.
 */
function summarise(
  profile: CpuProfile,
  window: { start: number; end: number; exit: number },
): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const label = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    if (url === "" && (functionName === "" || functionName === "(anonymous)")) return "(native)";
    return `${functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}${lineNumber >= 0 ? `:${lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const at: number[] = [];
  let elapsed = 0;
  for (const delta of profile.timeDeltas) {
    elapsed += delta;
    at.push(elapsed);
  }
  let total = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const when = window.exit - (elapsed - (at[index] ?? 0)) / 1000;
    if (when < window.start || when > window.end) return;
    total += micros;
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
      const node = byId.get(current);
      if (node === undefined || node.callFrame.functionName === "(root)") continue;
      const name = label(node);
      if (current === id) self.set(name, (self.get(name) ?? 0) + micros);
      if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
      seen.add(name);
    }
  });
  return { total, self, inclusive };
}

const work = tempDir("caas-profile-");
try {
  mkdirSync(join(work, "pki"));
  const pki = makeTestPki(join(work, "pki"));
  const keysFile = join(work, "keys.json");
  const caasCommand = (args: string[]) => {
    const result = Bun.spawnSync([process.execPath, "src/main.ts", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`bench:profile: caas ${args[0]} failed: ${result.stderr.toString()}`);
  };
  // Keyring key "bench", which the API key may use: what --route keyring encrypts under.
  const rootKey = join(work, "root-key");
  const keyringFile = join(work, "keyring.json");
  caasCommand(["root-key", "init", rootKey]);
  caasCommand(["keyring", "create", "bench", "--file", keyringFile, "--root-key", rootKey]);
  const scopes = ["--scope", "pseudonym", "--scope", "keyring:bench"];
  const added = Bun.spawnSync([process.execPath, "src/main.ts", "keys", "add", "profile", ...scopes, "--file", keysFile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const apiKey = added.stdout.toString().trim().split("\n").at(-1) ?? "";
  if (added.exitCode !== 0 || apiKey === "") throw new Error(`bench:profile: keys add failed: ${added.stderr.toString()}`);

  const profileDir = join(work, "profile");
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: work,
    CAAS_PORT: "0",
    CAAS_OPS_LISTEN: "127.0.0.1:0",
    CAAS_STATE_DIR: join(work, "state"),
    CAAS_TLS_CERT: pki.serverCert,
    CAAS_TLS_KEY: pki.serverKey,
    CAAS_API_KEYS_FILE: keysFile,
    CAAS_ROOT_KEY_FILE: rootKey,
    CAAS_KEYRING_FILE: keyringFile,
  };
  const caas = Bun.spawn(pin("1", [process.execPath, "--cpu-prof", `--cpu-prof-dir=${profileDir}`, "src/main.ts", "serve"]), {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = caas.stdout.getReader();
  let log = "";
  let port: string | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`bench:profile: caas did not start:\n${log}`);
    log += new TextDecoder().decode(value);
    port = /"url":"https:\/\/[^"]*:(\d+)"/.exec(log)?.[1];
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();

  const body = route === "encrypt" ? { userUUID: README_USER, sensitiveData: "a".repeat(64) } : { data: "a".repeat(64) };
  const path = { oracle: "/oracleinvocation/", encrypt: "/encrypt", keyring: "/keyring/bench/encrypt" }[route];
  const script = join(work, "load.lua");
  writeFileSync(
    script,
    [
      `wrk.method = "POST"`,
      `wrk.headers["Content-Type"] = "application/json"`,
      route !== "oracle" ? `wrk.headers["Authorization"] = ${JSON.stringify(`Bearer ${apiKey}`)}` : "",
      `wrk.body = ${JSON.stringify(JSON.stringify(body))}`,
    ].join("\n"),
  );
  const loadStart = performance.now();
  const load = Bun.spawnSync(pin("0", ["wrk", "-t1", "-c50", `-d${seconds}s`, "-s", script, `https://127.0.0.1:${port}${path}`]), {
    stdout: "pipe",
    stderr: "pipe",
  });
  const summary = load.stdout.toString();
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(summary)?.[1];
  if (load.exitCode !== 0 || rate === undefined || /Non-2xx/.test(summary))
    throw new Error(`bench:profile: wrk failed or saw errors:\n${summary}${load.stderr.toString()}`);

  const loadEnd = performance.now();
  caas.kill("SIGINT");
  await caas.exited;
  const exit = performance.now();
  const written = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
  if (written === undefined) throw new Error("bench:profile: caas wrote no .cpuprofile");
  const out = resolve(values.out ?? join(ROOT, "bench/results", `${route}.cpuprofile`));
  mkdirSync(resolve(out, ".."), { recursive: true });
  copyFileSync(join(profileDir, written), out);

  const { total, self, inclusive } = summarise(JSON.parse(readFileSync(out, "utf8")) as CpuProfile, {
    start: loadStart,
    end: loadEnd,
    exit,
  });
  const table = (title: string, times: Map<string, number>) =>
    [
      `${title}:`,
      ...[...times]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([name, micros]) => `${((100 * micros) / total).toFixed(1).padStart(6)}%  ${name}`),
    ].join("\n");
  console.log(
    `bench:profile: POST ${path} at ${Number(rate).toFixed(0)} req/s for ${seconds} s; ${(total / 1e6).toFixed(1)} s of samples taken under that load`,
  );
  console.log(table("self time", self));
  console.log(table("inclusive time", inclusive));
  console.log(`bench:profile: the whole profile is in ${out} (a flame graph in Chrome DevTools or speedscope)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
