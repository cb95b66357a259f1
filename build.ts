/**
 * Builds dist/caas, one executable: `bun run build [--target linux-x64|linux-arm64|linux-x64-baseline|linux-x64-musl|linux-arm64-musl]`.
 * Flags were chosen by measurement (README, "Build flags"): no identifier minification, because
 * the minifier has broken Elysia's handlers before (elysiajs/elysia#1711), and the end-to-end
 * suite runs against exactly this output.
 */
import { parseArgs } from "node:util";
import packageJson from "./package.json" with { type: "json" };

const TARGETS = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "linux-x64-baseline": "bun-linux-x64-baseline",
  "linux-x64-musl": "bun-linux-x64-musl",
  "linux-arm64-musl": "bun-linux-arm64-musl",
} as const;
type TargetName = keyof typeof TARGETS;

function isTargetName(name: string): name is TargetName {
  return Object.hasOwn(TARGETS, name);
}

function gitCommit(): string {
  const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  if (result.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { stderr: "ignore" }).stdout.toString().trim();
  return result.stdout.toString().trim() + (dirty === "" ? "" : "-dirty");
}

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { target: { type: "string", default: "linux-x64" } }, strict: true });
const targetName = values.target;
if (!isTargetName(targetName)) {
  console.error(`build: unknown --target '${targetName}'; one of ${Object.keys(TARGETS).join(", ")}`);
  process.exit(2);
}
const outfile = targetName === "linux-x64" ? "dist/caas" : `dist/caas-${targetName}`;
const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { target: TARGETS[targetName], outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: { whitespace: true, syntax: true, identifiers: false },
  bytecode: true,
  sourcemap: "none",
  define: {
    CAAS_BUILD_VERSION: JSON.stringify(packageJson.version),
    CAAS_BUILD_COMMIT: JSON.stringify(gitCommit()),
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const size = Bun.file(outfile).size;
console.log(`built ${outfile} (${(size / 1024 / 1024).toFixed(1)} MiB) in ${Math.round(performance.now() - started)} ms`);
