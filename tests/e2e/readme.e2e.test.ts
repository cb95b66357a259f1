/**
 * The README's promise to a newcomer: in a fresh clone, with a fresh HOME, its first command sets
 * up and starts caas, and every command of its tour, run as written, gets the answer the README
 * shows. Answers that are random by nature (a fresh oracle seal, a digest under this machine's
 * development secret, elided with "…") are held to their shape; every other answer must match
 * to the byte. The second command is the one CI runs.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "./harness.ts";

const REPO = resolve(import.meta.dir, "../..");
const README = readFileSync(join(REPO, "README.md"), "utf8");

/** The fenced ```sh blocks of a section, in order. */
function shellBlocks(section: string): string[] {
  const start = README.indexOf(`## ${section}`);
  const end = README.indexOf("\n## ", start + 1);
  const text = README.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
}

const [setUpAndStart, runTests] = shellBlocks("Quick start");
const [tour] = shellBlocks("A tour");

describe("the README's two first commands", () => {
  it("are one that sets up and starts caas and one that runs the tests, as CI does", () => {
    expect(setUpAndStart?.trim()).toContain("bun start");
    expect(runTests?.trim()).toBe("bun test");
    expect(readFileSync(join(REPO, ".ci/run"), "utf8")).toMatch(/^bun test$/m);
  });
});

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Expected answers: the "# {...}" line under each command that prints one. */
function expectedAnswers(script: string): Json[] {
  return script
    .split("\n")
    .filter((line) => line.startsWith("# {"))
    .map((line) => JSON.parse(line.slice(2)) as Json);
}

/** Same structure; a string leaf is equal, or, where the README elides it with "…", lowercase hex. */
function matches(actual: Json, expected: Json, shapeOnly: boolean): boolean {
  if (typeof expected === "string") {
    if (typeof actual !== "string") return false;
    if (shapeOnly) return /^[A-Za-z0-9+/]+=*$/.test(actual);
    // "…" elides what differs from machine to machine: a digest (hex), or the rest of a ciphertext or token after its prefix.
    if (!expected.includes("…")) return actual === expected;
    const prefix = expected.slice(0, expected.indexOf("…"));
    return /^[0-9a-f]{64,128}$/.test(actual) || ((prefix.startsWith("caas:") || prefix === "eyJ") && actual.startsWith(prefix));
  }
  if (expected === null || typeof expected !== "object") return actual === expected;
  if (actual === null || typeof actual !== "object" || Array.isArray(actual) !== Array.isArray(expected)) return false;
  const expectedKeys = Object.keys(expected).sort();
  if (JSON.stringify(Object.keys(actual).sort()) !== JSON.stringify(expectedKeys)) return false;
  return expectedKeys.every((key) =>
    matches((actual as Record<string, Json>)[key] ?? null, (expected as Record<string, Json>)[key] ?? null, shapeOnly),
  );
}

describe("the README's quick start and tour, in a fresh clone with a fresh HOME", () => {
  const root = tempDir("caas-readme-");
  const home = join(root, "home");
  const clone = join(root, "caas");
  mkdirSync(home);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TERM: "dumb" };
  let server: ReturnType<typeof Bun.spawn> | undefined;
  let output = "";

  afterAll(async () => {
    server?.kill("SIGTERM");
    await server?.exited;
    Bun.spawnSync(["rm", "-rf", root]);
  });

  it("starts caas with the first command", async () => {
    const cloned = Bun.spawnSync(["git", "clone", "--quiet", REPO, clone], { stderr: "pipe" });
    expect(cloned.exitCode).toBe(0);
    const started = Bun.spawn(["bash", "-c", setUpAndStart ?? ""], { cwd: clone, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    server = started;
    const decoder = new TextDecoder();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
    };
    void collect(started.stdout);
    void collect(started.stderr);
    const deadline = Date.now() + 120_000;
    while (!output.includes('"event":"listening"')) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`the quick start did not start caas:\n${output}`);
      await Bun.sleep(50);
    }
    expect(output).toMatch(/"event":"listening"[^\n]*:8443"/);
  }, 130_000);

  it("answers every command of the tour as the README shows", () => {
    const script = tour ?? "";
    const expected = expectedAnswers(script);
    expect(expected.length).toBeGreaterThanOrEqual(6);
    const ran = Bun.spawnSync(["bash", "-euo", "pipefail", "-c", script], { cwd: home, env, stdout: "pipe", stderr: "pipe" });
    expect(ran.stderr.toString()).toBe("");
    expect(ran.exitCode).toBe(0);
    const answers = ran.stdout
      .toString()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Json);
    expect(answers.length).toBe(expected.length);
    answers.forEach((answer, index) => {
      // The first answer is a fresh seal: random by design, so only its shape can be the README's.
      const shapeOnly = index === 0;
      if (!matches(answer, expected[index] ?? null, shapeOnly)) {
        throw new Error(
          `tour answer ${index + 1} differs from the README:\n  README: ${JSON.stringify(expected[index])}\n  caas:   ${JSON.stringify(answer)}`,
        );
      }
    });
  }, 30_000);

  it("names the development files in the log, never a key", () => {
    expect(output).toContain("dev-api-key");
    expect(output).toContain("dev-certificate.pem");
    expect(output).toMatch(/"event":"(dev_keyring|keyring)[a-z_]*"/);
    const key = readFileSync(join(home, ".local/state/caas/dev-api-key"), "utf8").trim();
    expect(key.length).toBeGreaterThan(20);
    expect(output).not.toContain(key);
  });
});
