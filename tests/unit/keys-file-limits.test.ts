/**
 * The keys file's limits are one set that agrees with itself: each is reachable by a file caas
 * itself writes (the count of keys within the byte cap), a file at each limit loads, one past it
 * is refused with an error that names the limit, `keys add` past it leaves the file as it was,
 * and docs/security.md's table says the same numbers.
 */
import { describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { addKey } from "../../src/credentials/key-changes.ts";
import { KEYS_FILE_LIMITS } from "../../src/credentials/keys-file.ts";
import { scratchDirectories } from "./scratch.ts";
import { StoreFileError } from "../../src/files/store-errors.ts";

const scratch = scratchDirectories("caas-keys-file-limits-");
const LONGEST_NAME_LENGTH = 64;
const CREATED = "2026-01-01T00:00:00.000Z";

/** `count` keys with the longest names, each with `scopes`, as `keys add` writes the file. */
function keysFileText(count: number, scopes: (index: number) => readonly string[] = () => ["pseudonym"]): string {
  const keys = Array.from({ length: count }, (_, index) => ({
    name: `k${String(index).padStart(LONGEST_NAME_LENGTH - 1, "0")}`,
    profile: "django-compat",
    hash: createHash("sha256").update(String(index)).digest("hex"),
    created: CREATED,
    scopes: [...scopes(index)],
  }));
  return `${JSON.stringify({ keys }, null, 2)}\n`;
}

async function fileOf(text: string): Promise<string> {
  const path = join(await scratch(), "keys.json");
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

async function loadError(path: string): Promise<string> {
  try {
    await ApiKeyStore.load(path);
  } catch (error) {
    if (StoreFileError.is(error, "keys_file")) return error.message;
    throw error;
  }
  return "loaded";
}

/** The longest scope there is: a keyring scope with the longest key name and the longest operation. */
const longestScope = (index: number) => `keyring:${String(index).padStart(LONGEST_NAME_LENGTH, "s")}:datakey-wrapped`;

const LIMITS = [
  {
    limit: "keys",
    at: () => keysFileText(KEYS_FILE_LIMITS.keys),
    past: () => keysFileText(KEYS_FILE_LIMITS.keys + 1),
    says: "it holds 100,001 keys; a keys file holds at most 100,000",
  },
  {
    limit: "scopes per key",
    at: () => keysFileText(2, (key) => (key === 1 ? Array.from({ length: KEYS_FILE_LIMITS.scopesPerKey }, (_, i) => longestScope(i)) : [])),
    past: () =>
      keysFileText(2, (key) => (key === 1 ? Array.from({ length: KEYS_FILE_LIMITS.scopesPerKey + 1 }, (_, i) => longestScope(i)) : [])),
    says: "the key at /keys/1 has 1,001 scopes; a key has at most 1,000",
  },
  {
    limit: "bytes",
    at: () => {
      const text = keysFileText(1);
      return text + " ".repeat(KEYS_FILE_LIMITS.bytes - Buffer.byteLength(text));
    },
    past: () => {
      const text = keysFileText(1);
      return text + " ".repeat(KEYS_FILE_LIMITS.bytes + 1 - Buffer.byteLength(text));
    },
    says: "larger than 32 MiB",
  },
] as const;

describe("the keys file's limits", () => {
  for (const { limit, at, past, says } of LIMITS) {
    it(`loads a file at the limit of ${limit}, and refuses one past it saying so`, async () => {
      expect(await loadError(await fileOf(at()))).toBe("loaded");
      expect(await loadError(await fileOf(past()))).toEndWith(says);
    }, 30_000);
  }

  it("holds its count of keys within its byte cap, written as caas writes them, with the longest names and one scope each", () => {
    const perKey = Buffer.byteLength(keysFileText(2)) - Buffer.byteLength(keysFileText(1));
    expect(Buffer.byteLength(keysFileText(1)) + (KEYS_FILE_LIMITS.keys - 1) * perKey).toBeLessThanOrEqual(KEYS_FILE_LIMITS.bytes);
    // And one key with every scope it may have fits many times over.
    const everyScope = keysFileText(1, () => Array.from({ length: KEYS_FILE_LIMITS.scopesPerKey }, (_, i) => longestScope(i)));
    expect(Buffer.byteLength(everyScope) * 100).toBeLessThan(KEYS_FILE_LIMITS.bytes);
  });

  it("refuses keys add past the count, naming the limit, and leaves the file as it was", async () => {
    const path = await fileOf(keysFileText(KEYS_FILE_LIMITS.keys));
    const before = await readFile(path, "utf8");
    const refused = await addKey(path, { name: "one-too-many" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "keys_file_refused" });
    expect((refused as StoreFileError).message).toContain("a keys file holds at most 100,000");
    expect(await readFile(path, "utf8")).toBe(before);
  }, 30_000);

  it("are the numbers docs/security.md's table of file limits gives", () => {
    const security = readFileSync(join(import.meta.dir, "../../docs/security.md"), "utf8");
    const row = security.split("\n").find((line) => line.startsWith("| keys file"));
    expect(row).toBeDefined();
    expect(row).toContain(`${KEYS_FILE_LIMITS.bytes / (1024 * 1024)} MiB`);
    expect(row).toContain(KEYS_FILE_LIMITS.keys.toLocaleString("en"));
    expect(row).toContain(`${KEYS_FILE_LIMITS.scopesPerKey.toLocaleString("en")} scopes`);
  });
});
