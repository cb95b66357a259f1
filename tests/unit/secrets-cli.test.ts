import { describe, expect, it } from "bun:test";
import { scratchDirectories } from "./scratch.ts";
import { chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { runSecretCommand } from "../../src/cli/secret.ts";
import { loadSecretRing } from "../../src/credentials/secret-ring.ts";
import { withPrivateFileLock } from "../../src/files/private-file.ts";
import { type CommandRun, runCommand } from "./helpers.ts";

function secret(args: string[], env: Record<string, string | undefined> = {}): Promise<CommandRun> {
  return runCommand(runSecretCommand, args, env);
}

const scratch = scratchDirectories("caas-secret-cli-");
async function secretPath(): Promise<string> {
  return join(await scratch(), "secret.json");
}

describe("caas secret init", () => {
  it("writes a 0600 secret file, exits 0 and prints no secret", async () => {
    const file = await secretPath();
    const run = await secret(["init", file]);
    expect(run.code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const ring = await loadSecretRing(file);
    expect(run.out.join("\n")).not.toContain(ring.newest.secret.toBase64().slice(0, 20));
  });

  it("refuses to overwrite, exiting 78 with one line and leaving the file alone", async () => {
    const file = await secretPath();
    await secret(["init", file]);
    const before = await readFile(file, "utf8");
    const run = await secret(["init", file]);
    expect(run.code).toBe(78);
    expect(run.err.length).toBe(1);
    expect(run.err[0]).toContain("refusing to overwrite");
    expect(await readFile(file, "utf8")).toBe(before);
  });

  it("takes the file from CAAS_SECRET_FILE when none is given", async () => {
    const file = await secretPath();
    expect((await secret(["init"], { CAAS_SECRET_FILE: file })).code).toBe(0);
    expect((await loadSecretRing(file)).newest.version).toBe(1);
  });
});

describe("caas secret rotate", () => {
  it("adds a version and exits 0", async () => {
    const file = await secretPath();
    await secret(["init", file]);
    const run = await secret(["rotate", file]);
    expect(run.code).toBe(0);
    expect((await loadSecretRing(file)).versions.map((v) => v.version)).toEqual([1, 2]);
  });

  it("exits 78 for a missing file", async () => {
    const run = await secret(["rotate", await secretPath()]);
    expect(run.code).toBe(78);
    expect(run.err.length).toBe(1);
  });

  it("exits 78 for a group- or world-readable file, naming it and the chmod 600 fix", async () => {
    const file = await secretPath();
    await secret(["init", file]);
    await chmod(file, 0o644);
    const run = await secret(["rotate", file]);
    expect(run.code).toBe(78);
    expect(run.err.length).toBe(1);
    expect(run.err[0]).toContain(`chmod 600 ${file}`);
    await chmod(file, 0o600);
    expect((await loadSecretRing(file)).versions.length).toBe(1);
  });
});

/** A secret file with versions 1..n, made by the commands themselves; the one-step rotation (--activate-in 0) makes n active. */
async function secretWithVersions(n: number): Promise<string> {
  const file = await secretPath();
  await secret(["init", file]);
  for (let version = 2; version <= n; version++) await secret(["rotate", "--activate-in", "0", file]);
  return file;
}

/** Every secret the file holds, as the file stores it, to look for in what a command printed. */
async function storedSecrets(file: string): Promise<string[]> {
  return (await loadSecretRing(file)).versions.map((v) => v.secret.toBase64());
}

describe("caas secret list", () => {
  it("prints one line per version, its state and activation, and no secret", async () => {
    const file = await secretWithVersions(3);
    expect((await secret(["rotate", file])).code).toBe(0);
    const run = await secret(["list", file]);
    expect(run.code).toBe(0);
    expect(run.out.map((line) => line.split("\t").slice(0, 3))).toEqual([
      ["1", "decrypt-only", "-"],
      ["2", "decrypt-only", expect.stringMatching(/^\d{4}-/)],
      ["3", "active", expect.stringMatching(/^\d{4}-/)],
      ["4", "staged", "pending"],
    ]);
    for (const stored of await storedSecrets(file)) expect(run.out.join("\n")).not.toContain(stored.slice(0, 16));
  });

  it("prints one JSON document with --json: versions, which is active, states, activation, created and retired dates, and no secret", async () => {
    const file = await secretWithVersions(2);
    expect((await secret(["retire", "1", file])).code).toBe(0);
    const run = await secret(["list", "--json", file]);
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(1);
    const listed = JSON.parse(run.out[0] ?? "") as { active_version: number; versions: Record<string, unknown>[] };
    expect(listed.active_version).toBe(2);
    expect(listed.versions).toEqual([
      { version: 1, state: "retired", activation: null, created: expect.any(String), retired: expect.any(String) },
      { version: 2, state: "active", activation: expect.any(String), created: expect.any(String), retired: null },
    ]);
    for (const stored of await storedSecrets(file)) expect(run.out[0]).not.toContain(stored.slice(0, 16));
  });

  it("exits 78 for a missing file", async () => {
    const run = await secret(["list", await secretPath()]);
    expect(run.code).toBe(78);
    expect(run.err).toHaveLength(1);
  });
});

describe("caas secret retire", () => {
  it("marks an older version retired, keeps every secret as it was, and prints none", async () => {
    const file = await secretWithVersions(3);
    const before = await storedSecrets(file);
    const run = await secret(["retire", "2", file]);
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(1);
    const ring = await loadSecretRing(file);
    expect(ring.versions.map((v) => [v.version, v.retired !== undefined])).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(ring.verifying.map((v) => v.version)).toEqual([1, 3]);
    expect(await storedSecrets(file)).toEqual(before);
    for (const stored of before) expect(run.out.join("\n")).not.toContain(stored.slice(0, 16));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("refuses the active version with exit 1, leaving the file as it was", async () => {
    const file = await secretWithVersions(2);
    const before = await readFile(file, "utf8");
    const run = await secret(["retire", "2", file]);
    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toContain("active");
    expect(await readFile(file, "utf8")).toBe(before);
  });

  it("refuses a version the file does not hold with exit 1, not 78", async () => {
    const file = await secretWithVersions(2);
    const run = await secret(["retire", "7", file]);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([`caas secret retire: ${file} has no secret version 7 (it holds 1, 2)`]);
  });

  it("leaves a version already retired as it was, its date kept", async () => {
    const file = await secretWithVersions(2);
    await secret(["retire", "1", file]);
    const before = await readFile(file, "utf8");
    expect((await secret(["retire", "1", file])).code).toBe(0);
    expect(await readFile(file, "utf8")).toBe(before);
  });

  it("waits for the file's lock, as rotate does, and changes the file only once it holds it", async () => {
    const file = await secretWithVersions(2);
    let retiring: Promise<CommandRun> | undefined;
    await withPrivateFileLock(file, async () => {
      retiring = secret(["retire", "1", file]);
      await Bun.sleep(200);
      // Still waiting: the file is as the lock holder left it.
      expect((await loadSecretRing(file)).versions.every((v) => v.retired === undefined)).toBe(true);
    });
    expect((await retiring)?.code).toBe(0);
    expect((await loadSecretRing(file)).verifying.map((v) => v.version)).toEqual([2]);
  });

  it("exits 2 for a missing or malformed VERSION", async () => {
    const file = await secretWithVersions(2);
    for (const args of [
      ["retire", file],
      ["retire", "one", file],
      ["retire", "0", file],
      ["retire", "1", file, "extra"],
    ]) {
      const run = await secret(args);
      expect({ args, code: run.code, lines: run.err.length }).toEqual({ args, code: 2, lines: 1 });
    }
  });
});

describe("caas secret usage", () => {
  it("exits 2 with one line on stderr for any usage error", async () => {
    const file = await secretPath();
    for (const args of [
      [],
      ["frobnicate"],
      ["init"],
      ["init", file, "other"],
      ["init", "--force", file],
      ["rotate", "-x", file],
      ["rotate", "--json", file],
    ]) {
      const run = await secret(args);
      expect({ args, code: run.code, lines: run.err.length, out: run.out }).toEqual({ args, code: 2, lines: 1, out: [] });
    }
  });

  it("prints help and exits 0 for the group and for each command", async () => {
    for (const args of [["--help"], ["init", "--help"], ["rotate", "-h"], ["list", "--help"], ["retire", "--help"]]) {
      const run = await secret(args);
      expect(run.code).toBe(0);
      expect(run.out.join("\n")).toContain("usage: caas secret");
    }
  });

  it("quotes an unknown command back with the one most likely meant", async () => {
    const run = await secret(["retrie", "1"]);
    expect(run.code).toBe(2);
    expect(run.err).toEqual(["caas secret: unknown command 'retrie'; did you mean 'retire'?"]);
  });
});
