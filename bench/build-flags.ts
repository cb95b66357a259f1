/**
 * Which `bun build --compile` flags to ship: `bun bench/build-flags.ts [--runs N]`.
 * Builds src/main.ts once per variant (bytecode on/off × three minify settings) into a temporary
 * file, with build.ts's other options, then for each: its size, a smoke test of what the
 * minifier has broken in Elysia before (routing, validation, an oracle round trip, the docs
 * page), and bench/startup.ts's start-up median and idle RSS. Prints one table; the decision
 * goes into build.ts by hand.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeStartupFixture, measureStartup } from "./startup.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({ args: Bun.argv.slice(2), options: { runs: { type: "string", default: "15" } }, strict: true });
const runs = Number(values.runs);

type Minify = { whitespace: boolean; syntax: boolean; identifiers: boolean };
const MINIFY: Record<string, Minify> = {
  none: { whitespace: false, syntax: false, identifiers: false },
  "whitespace+syntax": { whitespace: true, syntax: true, identifiers: false },
  full: { whitespace: true, syntax: true, identifiers: true },
};

interface Variant {
  readonly name: string;
  readonly bytecode: boolean;
  readonly minify: Minify;
}
const VARIANTS: Variant[] = [true, false].flatMap((bytecode) =>
  Object.entries(MINIFY).map(([name, minify]) => ({ name: `${bytecode ? "bytecode" : "no bytecode"}, minify ${name}`, bytecode, minify })),
);

async function build(variant: Variant, outfile: string): Promise<number> {
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: [join(ROOT, "src/main.ts")],
    compile: { target: "bun-linux-x64", outfile, autoloadDotenv: false, autoloadBunfig: false },
    minify: variant.minify,
    bytecode: variant.bytecode,
    sourcemap: "none",
    define: { CAAS_BUILD_VERSION: JSON.stringify("0.0.0-bench"), CAAS_BUILD_COMMIT: JSON.stringify("bench") },
  });
  if (!result.success) throw new Error(`build failed: ${result.logs.join("\n")}`);
  return performance.now() - started;
}

/** What a broken minification shows first: routes, schema validation, the oracle, the docs UI. */
async function smoke(binary: string, env: Record<string, string>, caPem: string): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), "caas-flags-home-"));
  const child = Bun.spawn([binary, "serve"], {
    env: { PATH: process.env.PATH ?? "", HOME: home, CAAS_PORT: "0", CAAS_OPS_LISTEN: "off", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    let output = "";
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    let port: number | undefined;
    const deadline = Date.now() + 10_000;
    while (port === undefined && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      output += decoder.decode(value, { stream: true });
      const match = /"event":"listening"[^\n]*:(\d+)"/.exec(output);
      if (match) port = Number(match[1]);
    }
    if (port === undefined) return `did not start: ${output.slice(-300)}`;
    const base = `https://127.0.0.1:${port}`;
    const tls = { ca: caPem };
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        tls,
      } as RequestInit);
    const sealed = (await (await post("/oracleinvocation/", { data: "smoke ☀️", aad: "a" })).json()) as Record<string, string>;
    const opened = (await (await post("/oracleinvocation/decrypt", { ...sealed, aad: "a" })).json()) as { data?: string };
    if (opened.data !== "smoke ☀️") return "oracle round trip failed";
    const invalid = await post("/oracleinvocation/", { data: 42 });
    if (invalid.status !== 400) return `a wrong type answered ${invalid.status}, not 400`;
    const unknown = await fetch(`${base}/nope`, { tls } as RequestInit);
    if (unknown.status !== 404) return `an unknown path answered ${unknown.status}`;
    const docs = await fetch(`${base}/swagger/json`, { tls } as RequestInit);
    const spec = docs.status === 200 ? ((await docs.json()) as { paths?: Record<string, unknown> }) : {};
    if (!spec.paths?.["/oracleinvocation/"] && !spec.paths?.["/oracleinvocation"]) return `/swagger/json lacks the oracle (${docs.status})`;
    const page = await fetch(`${base}/swagger`, { tls } as RequestInit);
    if (page.status !== 200) return `/swagger answered ${page.status}`;
    return "ok";
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    rmSync(home, { recursive: true, force: true });
  }
}

const dir = mkdtempSync(join(tmpdir(), "caas-flags-"));
try {
  const built: { variant: Variant; outfile: string; sizeMiB: number; buildMs: number; smoke: string }[] = [];
  for (const [index, variant] of VARIANTS.entries()) {
    const outfile = join(dir, `caas-${index}`);
    const buildMs = await build(variant, outfile);
    built.push({ variant, outfile, sizeMiB: Bun.file(outfile).size / 1024 / 1024, buildMs, smoke: "" });
  }
  // The fixture needs a working binary for `secret init` and `keys add`: the first variant's.
  const fixture = makeStartupFixture(built[0]!.outfile);
  for (const entry of built) entry.smoke = await smoke(entry.outfile, fixture.env, fixture.caPem);
  const measured = built.filter((entry) => entry.smoke === "ok");
  const figures = await measureStartup(
    measured.map((entry) => entry.outfile),
    runs,
    fixture,
    ["configured", "ad-hoc"],
  );
  fixture.dispose();
  const rows = [
    "| variant | size | build | smoke test | start-up median (configured) | ad-hoc | idle RSS | of which private |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const entry of built) {
    const configured = figures.find((row) => row.binary === entry.outfile && row.variant === "configured");
    const adhoc = figures.find((row) => row.binary === entry.outfile && row.variant === "ad-hoc");
    const measuredCells =
      configured === undefined || adhoc === undefined
        ? "— | — | — | —"
        : `${configured.medianMs.toFixed(1)} ms | ${adhoc.medianMs.toFixed(1)} ms | ${configured.rssMiB!.toFixed(1)} MiB | ${configured.anonMiB!.toFixed(1)} MiB`;
    rows.push(
      `| ${entry.variant.name} | ${entry.sizeMiB.toFixed(1)} MiB | ${(entry.buildMs / 1000).toFixed(1)} s | ${entry.smoke} | ${measuredCells} |`,
    );
  }
  console.log(`${runs} runs per start-up figure (median), all variants interleaved run by run; RSS after 1 s idle.`);
  console.log(rows.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
