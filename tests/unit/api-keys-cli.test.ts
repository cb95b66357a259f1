import { describe, expect, it } from "bun:test";
import { scratchDirectories } from "./scratch.ts";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { runKeysCommand } from "../../src/cli/keys.ts";
import { type CommandRun, runCommand } from "./helpers.ts";

function keys(args: string[], env: Record<string, string | undefined> = {}): Promise<CommandRun> {
  return runCommand(runKeysCommand, args, env);
}

const scratch = scratchDirectories("caas-keys-cli-");
async function keysPath(): Promise<string> {
  return join(await scratch(), "keys.json");
}

describe("caas keys add", () => {
  it("prints the new key on the last line of stdout, and only there", async () => {
    const file = await keysPath();
    const run = await keys(["add", "main-server", "--file", file]);
    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
    const key = run.out.at(-1) ?? "";
    expect(key).toMatch(/^caas_[A-Za-z0-9_-]{43}$/);
    for (const line of run.out.slice(0, -1)) expect(line).not.toContain(key.slice(5));
    expect((await ApiKeyStore.load(file)).lookup(key)).toEqual({
      name: "main-server",
      profile: "standard",
      created: expect.any(String),
      scopes: [{ to: "pseudonym" }],
    });
    expect(await readFile(file, "utf8")).not.toContain(key);
  });

  it("stores the profile it is given", async () => {
    const file = await keysPath();
    const run = await keys(["add", "django", "--profile", "django-compat", "--file", file]);
    expect(run.code).toBe(0);
    expect((await ApiKeyStore.load(file)).lookup(run.out.at(-1))?.profile).toBe("django-compat");
  });

  it("falls back to CAAS_API_KEYS_FILE for the file", async () => {
    const file = await keysPath();
    const run = await keys(["add", "from-env"], { CAAS_API_KEYS_FILE: file });
    expect(run.code).toBe(0);
    expect((await ApiKeyStore.load(file)).lookup(run.out.at(-1))?.name).toBe("from-env");
  });

  it("exits 78 with one line when the name is taken", async () => {
    const file = await keysPath();
    await keys(["add", "dup", "--file", file]);
    const run = await keys(["add", "dup", "--file", file]);
    expect(run.code).toBe(78);
    expect(run.out).toEqual([]);
    expect(run.err.length).toBe(1);
    expect(run.err[0]).toContain('"dup"');
  });

  it("exits 78 when the file cannot be written", async () => {
    const file = join(await keysPath(), "..", "no-such-dir", "keys.json");
    const run = await keys(["add", "x", "--file", file]);
    expect(run.code).toBe(78);
    expect(run.err.length).toBe(1);
  });
});

describe("caas keys import, list and remove", () => {
  it("imports a key, lists it without secrets, and removes it", async () => {
    const file = await keysPath();
    const key = "legacy-django-key-0123456789";
    const imported = await keys(["import", "legacy", "--key", key, "--profile", "django-compat", "--file", file]);
    expect(imported.code).toBe(0);
    expect(imported.out.join("\n")).not.toContain(key);
    await keys(["add", "second", "--file", file]);

    const listed = await keys(["list", "--file", file]);
    expect(listed.code).toBe(0);
    expect(listed.out.map((line) => line.split("\t").slice(0, 2))).toEqual([
      ["legacy", "django-compat"],
      ["second", "standard"],
    ]);
    expect(listed.out.join("\n")).not.toMatch(/[0-9a-f]{64}/);

    const removed = await keys(["remove", "legacy", "--file", file]);
    expect(removed.code).toBe(0);
    expect((await ApiKeyStore.load(file)).lookup(key)).toBeUndefined();
    expect((await keys(["list", "--file", file])).out.length).toBe(1);
  });

  it("lists with --json: names, profiles, created dates and scopes in one document, never a key or hash", async () => {
    const file = await keysPath();
    const key = (await keys(["add", "main", "--scope", "pseudonym", "--scope", "oracle", "--file", file])).out.at(-1) ?? "";
    await keys(["import", "legacy", "--key", "legacy-django-key-0123456789", "--profile", "django-compat", "--file", file]);
    const listed = await keys(["list", "--json", "--file", file]);
    expect(listed.code).toBe(0);
    expect(listed.out).toHaveLength(1);
    expect(JSON.parse(listed.out[0] ?? "")).toEqual({
      keys: [
        { name: "main", profile: "standard", created: expect.any(String), scopes: ["pseudonym", "oracle"] },
        { name: "legacy", profile: "django-compat", created: expect.any(String), scopes: ["pseudonym"] },
      ],
    });
    expect(listed.out[0]).not.toMatch(/[0-9a-f]{64}/);
    expect(listed.out[0]).not.toContain(key.slice(5));
    expect(listed.out[0]).not.toContain("legacy-django-key");
  });

  it("exits 1 for removing a name from a keys file that does not exist, and leaves nothing behind", async () => {
    const file = await keysPath();
    const run = await keys(["remove", "x", "--file", file]);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([`caas keys remove: ${file} has no key named "x" (the file does not exist)`]);
    expect(await readdir(join(file, ".."))).toEqual([]);
  });

  it("exits 78 for a missing, unknown or broken file, and 1 for removing a name the file does not hold", async () => {
    const file = await keysPath();
    expect((await keys(["list", "--file", file])).code).toBe(78);
    await keys(["add", "a", "--file", file]);
    expect((await keys(["remove", "nobody", "--file", file])).code).toBe(1);
    await writeFile(file, "{ broken");
    const broken = await keys(["list", "--file", file]);
    expect(broken.code).toBe(78);
    expect(broken.err.length).toBe(1);
  });

  it("exits 2 for an import with no --key or a key too weak to import", async () => {
    const file = await keysPath();
    expect((await keys(["import", "x", "--file", file])).code).toBe(2);
    expect((await keys(["import", "x", "--key", "short", "--file", file])).code).toBe(2);
  });

  it("reads the key from --key-file, one trailing newline dropped, so it never is an argument", async () => {
    const file = await keysPath();
    const keyFile = `${file}.key`;
    const key = "legacy-django-key-from-a-file-0123";
    await writeFile(keyFile, `${key}\n`);
    const imported = await keys(["import", "from-file", "--key-file", keyFile, "--file", file]);
    expect(imported.code).toBe(0);
    expect((await ApiKeyStore.load(file)).lookup(key)?.name).toBe("from-file");
    // Only one newline is the file's ending; more whitespace is part of the value, and refused.
    await writeFile(keyFile, `${key}\n\n`);
    expect((await keys(["import", "two-newlines", "--key-file", keyFile, "--file", file])).code).toBe(2);
  });

  it("takes exactly one of --key and --key-file, and exits 78 for an unreadable --key-file", async () => {
    const file = await keysPath();
    const both = await keys(["import", "x", "--key", "legacy-django-key-0123456789", "--key-file", "/dev/null", "--file", file]);
    expect(both.code).toBe(2);
    expect(both.err.join("\n")).not.toContain("legacy-django-key-0123456789");
    const missing = await keys(["import", "x", "--key-file", `${file}.absent`, "--file", file]);
    expect(missing.code).toBe(78);
    expect(missing.err).toHaveLength(1);
  });
});

describe("caas keys usage", () => {
  it("exits 2 with one line on stderr for any usage error", async () => {
    const file = await keysPath();
    const usageErrors = [
      [],
      ["frobnicate"],
      ["add"],
      ["add", "a", "b", "--file", file],
      ["add", "x", "--bogus", "--file", file],
      ["add", "x", "--file"],
      ["add", "x", "--profile", "admin", "--file", file],
      ["add", "bad name", "--file", file],
      ["add", "x"],
      ["list", "extra", "--file", file],
      ["list", "--key", "v", "--file", file],
      ["remove", "--file", file],
      ["add", "x", "--json", "--file", file],
    ];
    for (const args of usageErrors) {
      const run = await keys(args);
      expect({ args, code: run.code, lines: run.err.length, out: run.out }).toEqual({ args, code: 2, lines: 1, out: [] });
    }
  });

  it("does not echo the value of a mistyped option, which may be a key, though it names the option meant", async () => {
    const run = await keys(["import", "x", "--kye=secret-value-0123456789", "--file", await keysPath()]);
    expect(run.code).toBe(2);
    expect(run.err).toEqual(["caas keys import: unknown option '--kye'; did you mean '--key'? (see caas keys import --help)"]);
  });

  it("quotes an unknown command or option back with the one most likely meant, in one line, exit 2", async () => {
    const file = await keysPath();
    const cases: [string[], string][] = [
      [["lsit"], "caas keys: unknown command 'lsit'; did you mean 'list'?"],
      [["reomve", "x"], "caas keys: unknown command 'reomve'; did you mean 'remove'?"],
      [["frobnicate"], "caas keys: unknown command 'frobnicate'; expected add, import, list or remove"],
      [["list", "--jsno", "--file", file], "caas keys list: unknown option '--jsno'; did you mean '--json'? (see caas keys list --help)"],
      [["add", "x", "--scopes", "oracle"], "caas keys add: unknown option '--scopes'; did you mean '--scope'? (see caas keys add --help)"],
    ];
    for (const [args, line] of cases) {
      const run = await keys(args);
      expect({ args, code: run.code, err: run.err, out: run.out }).toEqual({ args, code: 2, err: [line], out: [] });
    }
  });

  it("prints help and exits 0 for the group and for each command", async () => {
    for (const args of [["--help"], ["-h"], ["add", "--help"], ["import", "--help"], ["list", "-h"], ["remove", "--help"]]) {
      const run = await keys(args);
      expect(run.code).toBe(0);
      expect(run.out.join("\n")).toContain("usage: caas keys");
    }
  });
});
