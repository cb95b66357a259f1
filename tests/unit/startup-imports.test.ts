/**
 * What a start evaluates is what the command needs: the modules a file reaches through static
 * imports are evaluated with it, while a dynamic import() is evaluated only when it runs. Read from
 * the sources, so a new static import that pulls a command's, the docs generator's or the HTTP
 * framework's modules into every start fails here (docs/benchmarks.md, "Start-up and memory").
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

/** Runtime imports only: `import type` and `export type` are erased, and import() is left out. */
const STATIC_IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)[^"';]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g;

/** Every file and package the entry's static imports reach: what evaluating it evaluates. */
function staticClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const match of readFileSync(file, "utf8").matchAll(STATIC_IMPORT)) {
      const specifier = match[1] ?? match[2];
      if (specifier === undefined) continue;
      if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier));
      else packages.add(specifier);
    }
  };
  visit(join(SRC, entry));
  return { files: new Set([...files].map((file) => relative(SRC, file))), packages };
}

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith(".ts") ? [path] : [];
  });
}

describe("what a start evaluates", () => {
  it("reads a closure of a realistic size (the reader itself works)", () => {
    const serve = staticClosure("cli/serve.ts");
    expect(serve.files.size).toBeGreaterThan(50);
    expect(serve.files.has("app.ts")).toBe(true);
    expect(serve.packages.has("elysia")).toBe(true);
  });

  it("caas --version and the other commands' dispatch evaluate no package and no command's module", () => {
    const main = staticClosure("main.ts");
    expect([...main.packages].filter((name) => !name.startsWith("node:"))).toEqual([]);
    expect([...main.files].filter((file) => file.startsWith("cli/") && file !== "cli/io.ts")).toEqual([]);
  });

  it("serve evaluates neither the OpenAPI generator nor the page until the docs are asked for", () => {
    const serve = staticClosure("cli/serve.ts");
    expect([...serve.packages].filter((name) => name.startsWith("@elysiajs/openapi"))).toEqual([]);
    expect(serve.files.has("modules/ops/openapi-document.ts")).toBe(false);
  });

  it("serve evaluates no other command's module", () => {
    const serve = staticClosure("cli/serve.ts");
    const commands = ["cli/keys.ts", "cli/secret.ts", "cli/keyring.ts", "cli/root-key.ts", "cli/decrypt.ts"];
    expect(commands.filter((file) => serve.files.has(file))).toEqual([]);
  });

  it("makes the ad-hoc certificate without an X.509 library", () => {
    const importers = sourceFiles(SRC).filter((file) => /["'](?:@peculiar\/x509|reflect-metadata)["']/.test(readFileSync(file, "utf8")));
    expect(importers.map((file) => relative(SRC, file))).toEqual([]);
  });
});
