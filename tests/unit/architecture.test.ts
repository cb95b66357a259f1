/**
 * The shape of src/, held: every import between two folders points down the layers below, so no
 * folder imports one above it and no two folders import each other; crypto/ imports nothing of
 * ours. The graph is read from the sources themselves (static imports, re-exports and dynamic
 * import() calls), so a new file or import is checked without anyone listing it here.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

/**
 * Layers from the top (the binary's entry) down; a folder may import its own files and anything
 * in a lower layer, never its own layer's other folders. Modules are features side by side: one
 * module never reaches into another.
 */
const LAYERS: readonly (readonly string[])[] = [
  // client.ts is a second entry: the types clients import, nothing that runs.
  ["main.ts", "client.ts"],
  ["cli"],
  ["server"],
  ["app.ts"],
  ["modules/oracle", "modules/pseudonym", "modules/keyring", "modules/ops"],
  ["http"],
  ["credentials"],
  ["files"],
  ["config.ts"],
  ["log.ts", "build-info.ts", "closest-name.ts", "addresses.ts"],
  ["errors.ts"],
  ["crypto"],
];

function unitOf(file: string): string {
  const path = relative(SRC, file);
  const parts = path.split("/");
  if (parts.length === 1) return path;
  if (parts[0] === "modules") return `modules/${parts[1]}`;
  return parts[0] ?? path;
}

function layerOf(unit: string): number {
  const index = LAYERS.findIndex((layer) => layer.includes(unit));
  if (index < 0) throw new Error(`src/${unit} is in no layer: add it to LAYERS in tests/unit/architecture.test.ts`);
  return index;
}

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
}

function edges(): Edge[] {
  const found: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (specifier === undefined || !specifier.startsWith(".")) continue;
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(SRC)) continue;
      found.push({ from: unitOf(file), to: unitOf(target), file: relative(SRC, file) });
    }
  }
  return found;
}

describe("the layers of src/", () => {
  const graph = edges();

  it("reads a graph of a realistic size (the reader itself works)", () => {
    expect(graph.length).toBeGreaterThan(50);
    expect(graph.some((edge) => edge.from === "app.ts" && edge.to === "modules/oracle")).toBe(true);
  });

  it("has every import between folders point down, never up or sideways", () => {
    const wrong = graph
      .filter((edge) => edge.from !== edge.to && layerOf(edge.to) <= layerOf(edge.from))
      .map((edge) => `${edge.file} imports ${edge.to}, which is not below ${edge.from}`);
    expect(wrong).toEqual([]);
  });

  it("keeps crypto/ pure: it imports nothing of ours outside crypto/", () => {
    const impure = graph.filter((edge) => edge.from === "crypto" && edge.to !== "crypto").map((edge) => `${edge.file} imports ${edge.to}`);
    expect(impure).toEqual([]);
  });

  it("keeps HTTP out of the services: no service.ts imports http/ or elysia", () => {
    const services = sourceFiles(join(SRC, "modules")).filter((file) => file.endsWith("service.ts"));
    expect(services.length).toBeGreaterThan(1);
    const offenders = services.filter((file) => /from\s*["'](?:elysia|[^"']*\/http\/[^"']*)["']/.test(readFileSync(file, "utf8")));
    expect(offenders.map((file) => relative(SRC, file))).toEqual([]);
  });
});

/** The files under `directory` that import a file under `target` (relative imports only), as "file imports target". */
function importsInto(directory: string, target: string): string[] {
  const repo = resolve(SRC, "..");
  return sourceFiles(directory).flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(IMPORT)]
      .map((match) => match[1] ?? match[2] ?? match[3] ?? "")
      .filter((specifier) => specifier.startsWith(".") && resolve(dirname(file), specifier).startsWith(target))
      .map((specifier) => `${relative(repo, file)} imports ${specifier}`),
  );
}

describe("the trees beside src/", () => {
  const repo = resolve(SRC, "..");

  it("keeps bench/ off the test tree: benchmarks import nothing under tests/", () => {
    expect(importsInto(join(repo, "bench"), join(repo, "tests"))).toEqual([]);
  });

  it("keeps support/, what the suites and the benchmarks share, off both: it imports nothing under tests/ or bench/", () => {
    expect([
      ...importsInto(join(repo, "support"), join(repo, "tests")),
      ...importsInto(join(repo, "support"), join(repo, "bench")),
    ]).toEqual([]);
  });

  it("keeps unit tests off the end-to-end harness, which builds dist/caas when imported", () => {
    expect(importsInto(join(repo, "tests/unit"), join(repo, "tests/e2e/harness.ts"))).toEqual([]);
  });

  it("builds the app for tests in one place, tests/unit/helpers.ts (testApp), so a new dependency of createApp is given once", () => {
    const callers = sourceFiles(join(repo, "tests")).filter((file) => /\bcreateApp\(/.test(readFileSync(file, "utf8")));
    expect(callers.map((file) => relative(repo, file))).toEqual(["tests/unit/helpers.ts"]);
  });

  it("runs and waits on the executable through the end-to-end harness only: no suite writes its own cli() or waitFor()", () => {
    const own = /\b(?:function|const)\s+(?:cli|cliOk|waitFor|waitForLog)\b/;
    const writers = sourceFiles(join(repo, "tests")).filter((file) => own.test(readFileSync(file, "utf8")));
    expect(writers.map((file) => relative(repo, file))).toEqual(["tests/e2e/harness.ts"]);
  });
});
