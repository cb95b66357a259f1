import { describe, expect, it } from "bun:test";
import { caught } from "./caught.ts";
import { scratchDirectories } from "./scratch.ts";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureDevApiKey } from "../../src/credentials/development.ts";
import { initSecretFile, loadSecretRing, rotateSecretFile } from "../../src/credentials/secret-ring.ts";
import { ensureStateSecret, STATE_SECRET_FILE } from "../../src/credentials/state-directory.ts";
import { toBase64 } from "../../src/crypto/encoding.ts";
import type { StoreFileError } from "../../src/files/store-errors.ts";

const scratch = scratchDirectories("caas-secrets-");

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe("secret init", () => {
  it("writes one random 256-bit secret, version 1, with mode 0600 and nothing left beside it", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    const ring = await initSecretFile(path);
    expect(await modeOf(path)).toBe(0o600);
    expect(ring.versions.length).toBe(1);
    expect(ring.newest.version).toBe(1);
    expect(ring.newest.secret.length).toBe(32);
    expect(Number.isNaN(Date.parse(ring.newest.created))).toBe(false);
    expect(await loadSecretRing(path)).toEqual(ring);
    expect(await readdir(directory)).toEqual(["secret.json"]);
  });

  it("never writes the same secret twice", async () => {
    const directory = await scratch();
    const a = await initSecretFile(join(directory, "a.json"));
    const b = await initSecretFile(join(directory, "b.json"));
    expect(toBase64(a.newest.secret)).not.toBe(toBase64(b.newest.secret));
  });

  it("refuses to overwrite an existing file, leaving it as it was", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    await initSecretFile(path);
    const before = await readFile(path, "utf8");
    const error = await caught(initSecretFile(path));
    expect(error).toMatchObject({ code: "secret_file_exists" });
    expect((error as StoreFileError).code).toBe("secret_file_exists");
    expect((error as StoreFileError).message).toContain(path);
    expect(await readFile(path, "utf8")).toBe(before);
    expect(await readdir(directory)).toEqual(["secret.json"]);
  });

  it("refuses to overwrite any existing file, even one that is not a secret file", async () => {
    const directory = await scratch();
    const path = join(directory, "notes.txt");
    await writeFile(path, "keep me");
    expect(await caught(initSecretFile(path))).toMatchObject({ code: "secret_file_exists" });
    expect(await readFile(path, "utf8")).toBe("keep me");
  });
});

describe("secret rotate", () => {
  it("adds version n+1 and keeps every older version as it was, still 0600", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    const first = await initSecretFile(path);
    // The one-step rotation: each new version active at once.
    const second = await rotateSecretFile(path, Date.now());
    const third = await rotateSecretFile(path, Date.now());
    expect(third.versions.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(third.newest.version).toBe(3);
    expect(toBase64(third.versions[0]?.secret ?? new Uint8Array())).toBe(toBase64(first.newest.secret));
    expect(toBase64(third.versions[1]?.secret ?? new Uint8Array())).toBe(toBase64(second.newest.secret));
    expect(new Set(third.versions.map((v) => toBase64(v.secret))).size).toBe(3);
    expect(await loadSecretRing(path)).toEqual(third);
    expect(await modeOf(path)).toBe(0o600);
    // The lock file stays (removing it would race a waiter); no temporary does.
    expect((await readdir(directory)).sort()).toEqual([".secret.json.lock", "secret.json"]);
  });

  it("refuses a missing file rather than starting a new ring", async () => {
    const directory = await scratch();
    expect(await caught(rotateSecretFile(join(directory, "absent.json")))).toMatchObject({ code: "secret_file_missing" });
  });

  it("refuses a file that group or others can read", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    await initSecretFile(path);
    await chmod(path, 0o644);
    expect(await caught(rotateSecretFile(path))).toMatchObject({ code: "secret_file_insecure" });
  });
});

describe("loading a secret file", () => {
  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o620, 0o602, 0o700 | 0o044]) {
    it(`refuses mode ${mode.toString(8)}, naming the file and the fix`, async () => {
      const directory = await scratch();
      const path = join(directory, "secret.json");
      await initSecretFile(path);
      await chmod(path, mode);
      const error = await caught(loadSecretRing(path));
      expect(error).toMatchObject({ code: "secret_file_insecure" });
      expect(error).toMatchObject({ store: "secret_file" });
      const insecure = error as StoreFileError;
      expect(insecure.code).toBe("secret_file_insecure");
      expect(insecure.path).toBe(path);
      expect(insecure.message).toContain(path);
      expect(insecure.message).toContain(`chmod 600 ${path}`);
      await chmod(path, 0o600);
      expect((await loadSecretRing(path)).newest.version).toBe(1);
    });
  }

  it("accepts 0400 (read-only for the owner)", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    await initSecretFile(path);
    await chmod(path, 0o400);
    expect((await loadSecretRing(path)).versions.length).toBe(1);
  });

  it("says a missing file is missing, and how to create one", async () => {
    const directory = await scratch();
    const path = join(directory, "absent.json");
    const error = await caught(loadSecretRing(path));
    expect(error).toMatchObject({ code: "secret_file_missing" });
    expect((error as StoreFileError).message).toContain(`caas secret init ${path}`);
  });

  const secret = toBase64(crypto.getRandomValues(new Uint8Array(32)));
  const created = "2025-01-01T00:00:00.000Z";
  const broken: Record<string, string> = {
    "not JSON": "{",
    "no versions": JSON.stringify({ versions: [] }),
    "the wrong shape": JSON.stringify([{ version: 1, created, secret }]),
    "a secret of 31 bytes": JSON.stringify({ versions: [{ version: 1, created, secret: toBase64(new Uint8Array(31)) }] }),
    "a secret that is not base64": JSON.stringify({ versions: [{ version: 1, created, secret: `${secret.slice(0, 42)}!=` }] }),
    "a repeated version": JSON.stringify({
      versions: [
        { version: 1, created, secret },
        { version: 1, created, secret },
      ],
    }),
    "version 0": JSON.stringify({ versions: [{ version: 0, created, secret }] }),
    "a bad date": JSON.stringify({ versions: [{ version: 1, created: "yesterday", secret }] }),
    "an unknown field": JSON.stringify({ versions: [{ version: 1, created, secret, algorithm: "x" }] }),
    "a bad retired date": JSON.stringify({
      versions: [
        { version: 1, created, retired: "last week", secret },
        { version: 2, created, secret },
      ],
    }),
    "every version retired": JSON.stringify({
      versions: [
        { version: 1, created, retired: created, secret },
        { version: 2, created, retired: created, secret },
      ],
    }),
    "every version staged": JSON.stringify({
      versions: [
        { version: 1, created, activation: "pending", secret },
        { version: 2, created, activation: "2999-01-01T00:00:00Z", secret },
      ],
    }),
    "an activation that is no time": JSON.stringify({ versions: [{ version: 1, created, activation: "soon", secret }] }),
  };
  for (const [what, text] of Object.entries(broken)) {
    it(`refuses a file with ${what} as invalid, without quoting the secret`, async () => {
      const directory = await scratch();
      const path = join(directory, "secret.json");
      await writeFile(path, text, { mode: 0o600 });
      const error = await caught(loadSecretRing(path));
      expect(error).toMatchObject({ code: "secret_file_invalid" });
      expect((error as StoreFileError).code).toBe("secret_file_invalid");
      expect((error as StoreFileError).message).not.toContain(secret.slice(0, 20));
    });
  }

  it("reads versions in any order and makes the highest the newest", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    const other = toBase64(crypto.getRandomValues(new Uint8Array(32)));
    await writeFile(
      path,
      JSON.stringify({
        versions: [
          { version: 2, created, secret: other },
          { version: 1, created, secret },
        ],
      }),
      {
        mode: 0o600,
      },
    );
    const ring = await loadSecretRing(path);
    expect(ring.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(toBase64(ring.newest.secret)).toBe(other);
  });

  it("keeps a retired version in the ring but not among those that verify", async () => {
    const path = join(await scratch(), "secret.json");
    const other = toBase64(crypto.getRandomValues(new Uint8Array(32)));
    const retired = "2025-06-01T00:00:00.000Z";
    const versions = [
      { version: 1, created, retired, secret },
      { version: 2, created, secret: other },
    ];
    await writeFile(path, JSON.stringify({ versions }), { mode: 0o600 });
    const ring = await loadSecretRing(path);
    expect(ring.versions.map((v) => [v.version, v.retired])).toEqual([
      [1, retired],
      [2, undefined],
    ]);
    expect(ring.verifying.map((v) => v.version)).toEqual([2]);
  });
});

describe("the quick start's state secret", () => {
  it("creates the directory 0700 and the secret 0600 on first start, then keeps using it", async () => {
    const root = await scratch();
    const stateDir = join(root, "state", "caas");
    const first = await ensureStateSecret(stateDir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(stateDir, STATE_SECRET_FILE));
    expect(await modeOf(stateDir)).toBe(0o700);
    expect(await modeOf(first.path)).toBe(0o600);
    const second = await ensureStateSecret(stateDir);
    expect(second.created).toBe(false);
    expect(toBase64(second.ring.newest.secret)).toBe(toBase64(first.ring.newest.secret));
  });

  it("ends with one secret when many starts race to create it", async () => {
    const stateDir = join(await scratch(), "state");
    const results = await Promise.all(Array.from({ length: 20 }, () => ensureStateSecret(stateDir)));
    expect(results.filter((r) => r.created).length).toBe(1);
    expect(new Set(results.map((r) => toBase64(r.ring.newest.secret))).size).toBe(1);
    expect(await readdir(stateDir)).toEqual([STATE_SECRET_FILE]);
  });

  it("refuses a state directory that group or others can write", async () => {
    const stateDir = join(await scratch(), "state");
    await mkdir(stateDir, { mode: 0o777 });
    await chmod(stateDir, 0o777);
    const error = await caught(ensureStateSecret(stateDir));
    expect(error).toMatchObject({ code: "state_directory_insecure" });
    expect((error as StoreFileError).message).toContain(`chmod 700 ${stateDir}`);
  });

  it("refuses a state secret with loose permissions rather than replacing it", async () => {
    const stateDir = join(await scratch(), "state");
    const { path } = await ensureStateSecret(stateDir);
    await chmod(path, 0o644);
    expect(await caught(ensureStateSecret(stateDir))).toMatchObject({ code: "secret_file_insecure" });
  });

  it("says clearly when the state directory cannot be made", async () => {
    const root = await scratch();
    await writeFile(join(root, "file"), "");
    const error = await caught(ensureStateSecret(join(root, "file", "state")));
    expect(error).toMatchObject({ store: "state_directory" });
    expect((error as StoreFileError).message).toContain("state directory");
  });

  it("reports a broken development API key file as the state directory's, never as the secret file's", async () => {
    const stateDir = join(await scratch(), "state");
    await ensureStateSecret(stateDir);
    await writeFile(join(stateDir, "dev-api-key"), "not a key\n", { mode: 0o600 });
    const error = await caught(ensureDevApiKey(stateDir));
    expect(error).toMatchObject({ store: "state_directory", code: "state_directory_invalid" });
    expect((error as StoreFileError).message).toContain("not a caas API key");
    expect((error as StoreFileError).message).not.toContain("secret file");
  });
});
