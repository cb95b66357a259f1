/**
 * What the benchmarks need to run caas: a throwaway test PKI and caas instances, from the same
 * code the e2e suites use (support/test-pki.ts, support/instance.ts), of dist/caas as built
 * (`bun run build` first): a benchmark measures the executable it is given and builds nothing.
 */
import { resolve } from "node:path";
import { type RunningCaas, type StartOptions, startInstance } from "../support/instance.ts";

export { makeTestPki, tempDir, type TestPki } from "../support/test-pki.ts";
export type { RunningCaas, StartOptions };

export const BINARY = resolve(import.meta.dir, "../dist/caas");

export function startCaas(options: StartOptions = {}): Promise<RunningCaas> {
  return startInstance(BINARY, options);
}

/** Runs a caas command that must succeed (making a secret, adding a key): its stdout. */
export function cli(...args: string[]): string {
  const result = Bun.spawnSync([BINARY, ...args], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`caas ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}
