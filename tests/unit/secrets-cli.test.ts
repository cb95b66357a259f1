import { describe, expect, it } from "bun:test";
import { scratchDirectories } from "./scratch.ts";
import { chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { CliIo } from "../../src/cli/io.ts";
import { runSecretCommand } from "../../src/cli/secret.ts";
import { loadSecretRing } from "../../src/credentials/secret-ring.ts";

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function secret(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (line) => out.push(line), err: (line) => err.push(line), env };
  const code = await runSecretCommand(args, io);
  return { code, out, err };
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

describe("caas secret usage", () => {
  it("exits 2 with one line on stderr for any usage error", async () => {
    const file = await secretPath();
    for (const args of [[], ["frobnicate"], ["init"], ["init", file, "other"], ["init", "--force", file], ["rotate", "-x", file]]) {
      const run = await secret(args);
      expect({ args, code: run.code, lines: run.err.length, out: run.out }).toEqual({ args, code: 2, lines: 1, out: [] });
    }
  });

  it("prints help and exits 0 for the group and for each command", async () => {
    for (const args of [["--help"], ["init", "--help"], ["rotate", "-h"]]) {
      const run = await secret(args);
      expect(run.code).toBe(0);
      expect(run.out.join("\n")).toContain("usage: caas secret");
    }
  });
});
