/**
 * The keys and secret files as an operator meets them through dist/caas: commands run at once
 * lose nothing, a symbolic link keeps pointing at the file the server reads, a closed stdout
 * never leaves a key nobody saw, nothing is written that the server refuses, and files someone
 * else could rewrite are refused. No command ever prints a stack trace.
 */
import { describe, expect, it } from "bun:test";
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, makeTestPki, startCaas, tempDir } from "./harness.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs dist/caas as its own process; many at once run truly in parallel. */
async function caas(args: string[], cwd: string): Promise<Result> {
  const child = Bun.spawn([BINARY, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

function names(keysFile: string): string[] {
  const file = JSON.parse(readFileSync(keysFile, "utf8")) as { keys: { name: string }[] };
  return file.keys.map((key) => key.name).sort();
}

function versions(secretFile: string): number[] {
  const file = JSON.parse(readFileSync(secretFile, "utf8")) as { versions: { version: number }[] };
  return file.versions.map((entry) => entry.version).sort((a, b) => a - b);
}

/** One line on stderr and nothing that looks like a stack frame or Bun's crash banner. */
function expectOneLine(stderr: string): void {
  expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toContain("Bun v");
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("commands run at once", () => {
  it("keeps every key of 20 parallel `keys add`, and every printed key is the stored one", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    expect((await caas(["keys", "add", "first", "--file", file], dir)).code).toBe(0);
    const runs = await Promise.all(range(20).map((i) => caas(["keys", "add", `parallel-${i}`, "--file", file], dir)));
    for (const run of runs) expect(run.code).toBe(0);
    expect(names(file)).toEqual(["first", ...range(20).map((i) => `parallel-${i}`)].sort());
    const hashes = new Set((JSON.parse(readFileSync(file, "utf8")) as { keys: { hash: string }[] }).keys.map((key) => key.hash));
    for (const run of runs) {
      const key = run.stdout.trimEnd().split("\n").at(-1) ?? "";
      expect(hashes.has(new Bun.CryptoHasher("sha256").update(key).digest("hex"))).toBe(true);
    }
  }, 60_000);

  it("never undoes a removal run beside an add, nor loses the add (5 rounds)", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    for (const round of range(5)) {
      expect((await caas(["keys", "add", `compromised-${round}`, "--file", file], dir)).code).toBe(0);
      const [removed, added] = await Promise.all([
        caas(["keys", "remove", `compromised-${round}`, "--file", file], dir),
        caas(["keys", "add", `fresh-${round}`, "--file", file], dir),
      ]);
      expect(removed.code).toBe(0);
      expect(added.code).toBe(0);
      expect(names(file)).toEqual(
        range(round + 1)
          .map((i) => `fresh-${i}`)
          .sort(),
      );
    }
  }, 60_000);

  it("keeps every change of `keys add`, `keys import` and `keys remove` run at once, 5 of each", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    for (const name of ["first", ...range(5).map((i) => `retired-${i}`)])
      expect((await caas(["keys", "add", name, "--file", file], dir)).code).toBe(0);
    const importedKey = (i: number) => `imported-key-${i}-0123456789abcdef`;
    const runs = await Promise.all([
      ...range(5).map((i) => caas(["keys", "add", `added-${i}`, "--file", file], dir)),
      ...range(5).map((i) =>
        caas(["keys", "import", `imported-${i}`, "--key", importedKey(i), "--scope", `keyring:k${i}`, "--file", file], dir),
      ),
      ...range(5).map((i) => caas(["keys", "remove", `retired-${i}`, "--file", file], dir)),
    ]);
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    expect(names(file)).toEqual(["first", ...range(5).flatMap((i) => [`added-${i}`, `imported-${i}`])].sort());
    // Each import under its own name, with its own hash and scope.
    const stored = (JSON.parse(readFileSync(file, "utf8")) as { keys: { name: string; hash: string; scopes?: string[] }[] }).keys;
    for (const i of range(5)) {
      expect(stored.find((key) => key.name === `imported-${i}`)).toMatchObject({
        hash: new Bun.CryptoHasher("sha256").update(importedKey(i)).digest("hex"),
        scopes: [`keyring:k${i}`],
      });
    }
  }, 60_000);

  it("gives each of 10 parallel `secret rotate` its own version, none lost", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "secret.json");
    expect((await caas(["secret", "init", file], dir)).code).toBe(0);
    const runs = await Promise.all(range(10).map(() => caas(["secret", "rotate", file], dir)));
    for (const run of runs) expect(run.code).toBe(0);
    expect(versions(file)).toEqual(range(11).map((i) => i + 1));
    const announced = runs.map((run) => Number(/secret version (\d+) staged/.exec(run.stdout)?.[1])).sort((a, b) => a - b);
    expect(announced).toEqual(range(10).map((i) => i + 2));
  }, 60_000);

  it("waits for a lock held with flock(1), then exits 75 with one line once 10 s have passed", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    expect((await caas(["keys", "add", "first", "--file", file], dir)).code).toBe(0);
    const holder = Bun.spawn(["flock", "--close", join(dir, ".keys.json.lock"), "sleep", "30"], { stdout: "ignore", stderr: "ignore" });
    try {
      await Bun.sleep(200);
      const run = await caas(["keys", "add", "second", "--file", file], dir);
      expect(run.code).toBe(75);
      expectOneLine(run.stderr);
      expect(run.stderr).toContain("locked");
      expect(names(file)).toEqual(["first"]);
    } finally {
      holder.kill("SIGKILL");
      await holder.exited;
    }
    // The kernel dropped the killed holder's lock: nothing stale is left to clean up.
    expect((await caas(["keys", "add", "second", "--file", file], dir)).code).toBe(0);
  }, 30_000);
});

describe("a closed stdout", () => {
  /** stdout is a pipe whose reader has already exited when caas starts, so the first write fails. */
  async function withClosedStdout(args: string[], dir: string): Promise<{ code: number; stderr: string }> {
    const script = `( sleep 0.3; "$0" "$@" 2>"${dir}/stderr"; echo $? >"${dir}/rc" ) | true`;
    const shell = Bun.spawn(["sh", "-c", script, BINARY, ...args], { cwd: dir, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    await shell.exited;
    // The subshell outlives `true`; wait for the status it records.
    for (let i = 0; i < 200 && !(await Bun.file(join(dir, "rc")).exists()); i++) await Bun.sleep(25);
    return { code: Number(readFileSync(join(dir, "rc"), "utf8").trim()), stderr: readFileSync(join(dir, "stderr"), "utf8") };
  }

  it("makes `keys add` exit 74 with one line and keep no key nobody saw, in a new file", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    const run = await withClosedStdout(["keys", "add", "unseen", "--file", file], dir);
    expect(run.code).toBe(74);
    expectOneLine(run.stderr);
    expect(run.stderr).toContain("was not kept");
    expect(await Bun.file(file).exists()).toBe(false);
  }, 20_000);

  it("makes `keys add` leave an existing file exactly as it was", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    expect((await caas(["keys", "add", "seen", "--file", file], dir)).code).toBe(0);
    const before = readFileSync(file, "utf8");
    const run = await withClosedStdout(["keys", "add", "unseen", "--file", file], dir);
    expect(run.code).toBe(74);
    expectOneLine(run.stderr);
    expect(readFileSync(file, "utf8")).toBe(before);
  }, 20_000);

  it("as testers piped it, `| head -c0` leaves no key behind and prints no stack trace", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    const shell = Bun.spawn(["sh", "-c", `"$0" keys add piped --file "${file}" | head -c0`, BINARY], {
      cwd: dir,
      stdout: "ignore",
      stderr: "pipe",
    });
    const stderr = await new Response(shell.stderr).text();
    await shell.exited;
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr).not.toContain("Bun v");
    // head may exit after caas wrote into the pipe buffer (the key then went to head, unread);
    // either way no key stays that the command said was not kept.
    if (stderr !== "") expect(await Bun.file(file).exists()).toBe(false);
  }, 20_000);

  it("makes every command that prints exit 74 with one line and no stack trace, whatever it prints", async () => {
    const dir = tempDir("caas-files-");
    const keys = join(dir, "keys.json");
    const secret = join(dir, "secret.json");
    const rootKey = join(dir, "root.key");
    const keyring = join(dir, "keyring.json");
    for (const args of [
      ["keys", "add", "listed", "--file", keys],
      ["secret", "init", secret],
      // The one-step rotation, so version 1 can be retired below.
      ["secret", "rotate", "--activate-in", "0", secret],
      ["root-key", "init", rootKey],
      ["keyring", "create", "orders", "--file", keyring, "--root-key", rootKey],
    ])
      expect({ args, code: (await caas(args, dir)).code }).toEqual({ args, code: 0 });
    const pki = makeTestPki();
    const printing = [
      ["--version"],
      ["--help"],
      ["help", "keys"],
      ["keys", "list", "--file", keys],
      ["keys", "list", "--json", "--file", keys],
      ["secret", "list", secret],
      ["secret", "list", "--json", secret],
      ["secret", "rotate", secret],
      ["secret", "retire", "1", secret],
      ["keyring", "list", "--file", keyring, "--root-key", rootKey],
      ["keyring", "list", "--json", "--file", keyring, "--root-key", rootKey],
      ["keyring", "rotate", "orders", "--file", keyring, "--root-key", rootKey],
      ["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey],
      ["serve", "--check", "--json", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey],
    ];
    for (const args of printing) {
      const run = await withClosedStdout(args, dir);
      expect({ args, code: run.code }).toEqual({ args, code: 74 });
      expectOneLine(run.stderr);
    }
  }, 60_000);

  it("makes `keys list` exit 74 with one line instead of a crash", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    expect((await caas(["keys", "add", "listed", "--file", file], dir)).code).toBe(0);
    const run = await withClosedStdout(["keys", "list", "--file", file], dir);
    expect(run.code).toBe(74);
    expectOneLine(run.stderr);
  }, 20_000);
});

describe("symbolic links", () => {
  it("updates the file a link points to, keeps the link, and the server reads the update", async () => {
    const dir = tempDir("caas-files-");
    const real = join(dir, "real");
    mkdirSync(real, { mode: 0o700 });
    const keysLink = join(dir, "keys.json");
    const secretLink = join(dir, "secret.json");
    expect((await caas(["keys", "add", "first", "--file", join(real, "keys.json")], dir)).code).toBe(0);
    symlinkSync(join(real, "keys.json"), keysLink);
    expect((await caas(["secret", "init", join(real, "secret.json")], dir)).code).toBe(0);
    symlinkSync("real/secret.json", secretLink);
    const server = await startCaas({ env: { CAAS_API_KEYS_FILE: keysLink, CAAS_SECRET_FILE: secretLink } });
    try {
      const added = await caas(["keys", "add", "late", "--file", keysLink], dir);
      expect(added.code).toBe(0);
      expect((await caas(["secret", "rotate", secretLink], dir)).code).toBe(0);
      expect(lstatSync(keysLink).isSymbolicLink()).toBe(true);
      expect(lstatSync(secretLink).isSymbolicLink()).toBe(true);
      expect(names(join(real, "keys.json"))).toEqual(["first", "late"]);
      expect(versions(join(real, "secret.json"))).toEqual([1, 2]);
      const reloads = server.output().split('"event":"reloaded"').length;
      server.process.kill("SIGHUP");
      for (let i = 0; i < 400 && server.output().split('"event":"reloaded"').length <= reloads; i++) await Bun.sleep(25);
      const key = added.stdout.trimEnd().split("\n").at(-1) ?? "";
      const answer = await server.post("/encrypt", { apiKey: key, userUUID: "3f2a1e4c-5b6d-4e7f-8a9b-0c1d2e3f4a5b", sensitiveData: "x" });
      expect(answer.status).toBe(200);
      expect(server.output()).toContain('"newestSecretVersion":2');
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("refuses a dangling link rather than creating whatever it points at", async () => {
    const dir = tempDir("caas-files-");
    const link = join(dir, "keys.json");
    symlinkSync(join(dir, "nowhere", "keys.json"), link);
    const run = await caas(["keys", "add", "x", "--file", link], dir);
    expect(run.code).toBe(78);
    expectOneLine(run.stderr);
  });
});

describe("nothing is written that the server refuses", () => {
  it("refuses to rotate past version 2147483647, leaving the file loadable as it was", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "secret.json");
    expect((await caas(["secret", "init", file], dir)).code).toBe(0);
    const top = JSON.parse(readFileSync(file, "utf8")) as { versions: { version: number }[] };
    top.versions[0]!.version = 2147483647;
    writeFileSync(file, JSON.stringify(top), { mode: 0o600 });
    const before = readFileSync(file, "utf8");
    const run = await caas(["secret", "rotate", file], dir);
    expect(run.code).toBe(78);
    expectOneLine(run.stderr);
    expect(run.stderr).toContain("2147483647");
    expect(readFileSync(file, "utf8")).toBe(before);
    const pki = makeTestPki();
    const check = await caas(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--secret-file", file], dir);
    expect(check.code).toBe(0);
  });
});

describe("files someone else could rewrite", () => {
  const asRoot = process.getuid?.() === 0;
  const itAsRoot = asRoot ? it : it.skip;
  if (!asRoot) console.warn("credential-files: not root, so files owned by another user cannot be made; those tests are skipped");

  itAsRoot("refuses a keys or secret file owned by another user, in the CLI and at server start", async () => {
    const dir = tempDir("caas-files-");
    const keys = join(dir, "keys.json");
    const secret = join(dir, "secret.json");
    expect((await caas(["keys", "add", "first", "--file", keys], dir)).code).toBe(0);
    expect((await caas(["secret", "init", secret], dir)).code).toBe(0);
    chownSync(keys, 65534, 65534);
    chownSync(secret, 65534, 65534);
    for (const args of [
      ["keys", "add", "second", "--file", keys],
      ["keys", "list", "--file", keys],
      ["secret", "rotate", secret],
    ]) {
      const run = await caas(args, dir);
      expect(run.code).toBe(78);
      expectOneLine(run.stderr);
      expect(run.stderr).toContain("owned by uid 65534");
    }
    const pki = makeTestPki();
    for (const flag of [
      ["--api-keys-file", keys],
      ["--secret-file", secret],
    ]) {
      const check = await caas(["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, ...flag], dir);
      expect(check.code).toBe(78);
      expectOneLine(check.stderr);
      expect(check.stderr).toContain("owned by uid 65534");
    }
  });

  itAsRoot("refuses a secret file in a directory others can write or another user owns", async () => {
    const pki = makeTestPki();
    for (const spoil of [(d: string) => chmodSync(d, 0o777), (d: string) => chownSync(d, 65534, 65534)]) {
      const dir = tempDir("caas-files-");
      const shared = join(dir, "shared");
      mkdirSync(shared, { mode: 0o700 });
      const secret = join(shared, "secret.json");
      expect((await caas(["secret", "init", secret], dir)).code).toBe(0);
      spoil(shared);
      const rotate = await caas(["secret", "rotate", secret], dir);
      expect(rotate.code).toBe(78);
      expectOneLine(rotate.stderr);
      expect(rotate.stderr).toContain(shared);
      const check = await caas(
        ["serve", "--check", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--secret-file", secret],
        dir,
      );
      expect(check.code).toBe(78);
      expectOneLine(check.stderr);
    }
  });
});

describe("keys remove", () => {
  it("exits 1, not 78, for a name the file does not hold", async () => {
    const dir = tempDir("caas-files-");
    const file = join(dir, "keys.json");
    expect((await caas(["keys", "add", "kept", "--file", file], dir)).code).toBe(0);
    const run = await caas(["keys", "remove", "nobody", "--file", file], dir);
    expect(run.code).toBe(1);
    expectOneLine(run.stderr);
    expect(names(file)).toEqual(["kept"]);
  });
});
