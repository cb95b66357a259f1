import { describe, expect, it } from "bun:test";
import { caught } from "./caught.ts";
import { scratchDirectories } from "./scratch.ts";
import { chmod, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ApiKeyProfile, type ApiKeyRecord, ApiKeyStore, generateApiKey, hashApiKey } from "../../src/credentials/api-keys.ts";
import { addKey, importKey, listKeys, removeKey } from "../../src/credentials/key-changes.ts";
import { allowsFeature, allowsKeyring, parseScope, parseScopes, scopeText } from "../../src/credentials/scopes.ts";
import { toHex } from "../../src/crypto/encoding.ts";
import type { StoreFileError } from "../../src/files/store-errors.ts";

const scratch = scratchDirectories("caas-keys-");
async function keysPath(): Promise<string> {
  return join(await scratch(), "keys.json");
}

/** What a lookup answers for a key stored without scopes: its name, profile and date, and the pseudonym scope every such key has. */
function lookedUp(name: string, profile: ApiKeyProfile): ApiKeyRecord {
  return { name, profile, created: expect.any(String), scopes: [{ to: "pseudonym" }] };
}

describe("generateApiKey", () => {
  it("makes caas_ keys of 32 random bytes in base64url, never the same twice", () => {
    const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
    expect(keys.size).toBe(1000);
    for (const key of keys) expect(key).toMatch(/^caas_[A-Za-z0-9_-]{43}$/);
  });
});

describe("the keys file", () => {
  it("holds the key's SHA-256 and never the key in clear, in a 0600 file", async () => {
    const path = await keysPath();
    const key = await addKey(path, { name: "main-server" });
    const text = await readFile(path, "utf8");
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice("caas_".length));
    expect(text).not.toContain(key.slice(5, 25));
    expect(text).toContain(toHex(hashApiKey(key)));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(text)).toEqual({
      keys: [
        {
          name: "main-server",
          profile: "standard",
          hash: toHex(hashApiKey(key)),
          created: expect.any(String),
          scopes: ["pseudonym"],
        },
      ],
    });
    // The lock file stays (removing it would race a waiter); no temporary does.
    expect((await readdir(join(path, ".."))).sort()).toEqual([".keys.json.lock", "keys.json"]);
  });

  it("lets a key added to the file be looked up, with its name and profile", async () => {
    const path = await keysPath();
    const standard = await addKey(path, { name: "main-server" });
    const compat = await addKey(path, { name: "django", profile: "django-compat" });
    const store = await ApiKeyStore.load(path);
    expect(store.size).toBe(2);
    expect(store.lookup(standard)).toEqual(lookedUp("main-server", "standard"));
    expect(store.lookup(compat)).toEqual(lookedUp("django", "django-compat"));
  });

  it("refuses a name already in the file, and keeps the first key working", async () => {
    const path = await keysPath();
    const key = await addKey(path, { name: "main-server" });
    const error = await caught(addKey(path, { name: "main-server" }));
    expect(error).toMatchObject({ code: "key_name_taken" });
    expect((error as StoreFileError).code).toBe("key_name_taken");
    expect((await listKeys(path)).length).toBe(1);
    expect((await ApiKeyStore.load(path)).lookup(key)?.name).toBe("main-server");
  });

  it("imports an existing key, refusing it twice under two names", async () => {
    const path = await keysPath();
    const key = "legacy-django-key-0123456789";
    await importKey(path, { name: "legacy", key, profile: "django-compat" });
    expect((await ApiKeyStore.load(path)).lookup(key)).toEqual(lookedUp("legacy", "django-compat"));
    expect(await readFile(path, "utf8")).not.toContain(key);
    expect(await caught(importKey(path, { name: "legacy-again", key: key }))).toMatchObject({ code: "key_already_stored" });
  });

  it("refuses to import a key too short to be a secret or that cannot travel in a header", async () => {
    const path = await keysPath();
    for (const key of ["short", "", "has a space in it 0123456789", "tab\there-0123456789", "é".repeat(20), "x".repeat(513)]) {
      expect(await caught(importKey(path, { name: "k", key: key }))).toMatchObject({ code: "invalid_key_argument" });
    }
  });

  it("refuses names that would be ambiguous in a listing or a log", async () => {
    const path = await keysPath();
    for (const name of ["", "-leading-dash", "has space", "new\nline", "x".repeat(65), "名前"]) {
      expect(await caught(addKey(path, { name: name }))).toMatchObject({ code: "invalid_key_argument" });
    }
  });

  it("removes a key, after which it no longer opens anything", async () => {
    const path = await keysPath();
    const gone = await addKey(path, { name: "old" });
    const kept = await addKey(path, { name: "new" });
    await removeKey(path, "old");
    const store = await ApiKeyStore.load(path);
    expect(store.lookup(gone)).toBeUndefined();
    expect(store.lookup(kept)?.name).toBe("new");
    expect(await caught(removeKey(path, "old"))).toMatchObject({ code: "key_not_found" });
  });

  it("lists names, profiles and creation times, never a key or a hash", async () => {
    const path = await keysPath();
    const key = await addKey(path, { name: "a" });
    await addKey(path, { name: "b", profile: "django-compat" });
    const listed = await listKeys(path);
    expect(listed.map(({ name, profile }) => ({ name, profile }))).toEqual([
      { name: "a", profile: "standard" },
      { name: "b", profile: "django-compat" },
    ]);
    for (const record of listed) expect(Object.keys(record).sort()).toEqual(["created", "name", "profile", "scopes"]);
    expect(JSON.stringify(listed)).not.toContain(toHex(hashApiKey(key)));
  });

  it("says a missing file is missing when loading, but lets `add` start one", async () => {
    const path = await keysPath();
    expect(await caught(ApiKeyStore.load(path))).toMatchObject({ code: "keys_file_missing" });
    expect(await caught(listKeys(path))).toMatchObject({ code: "keys_file_missing" });
    await addKey(path, { name: "first" });
    expect((await listKeys(path)).length).toBe(1);
  });

  it("refuses a file that group or others can write, since writing it grants access", async () => {
    const path = await keysPath();
    const key = await addKey(path, { name: "a" });
    for (const mode of [0o620, 0o602, 0o666]) {
      await chmod(path, mode);
      const error = await caught(ApiKeyStore.load(path));
      expect(error).toMatchObject({ code: "keys_file_insecure" });
      expect((error as StoreFileError).message).toContain(`chmod 600 ${path}`);
    }
    await chmod(path, 0o644);
    expect((await ApiKeyStore.load(path)).lookup(key)?.name).toBe("a");
  });

  const hash = "a".repeat(64);
  const created = "2025-01-01T00:00:00.000Z";
  const broken: Record<string, string> = {
    "not JSON": "not json",
    "the wrong shape": JSON.stringify([]),
    "an unknown profile": JSON.stringify({ keys: [{ name: "a", profile: "admin", hash, created }] }),
    "a hash that is not SHA-256 hex": JSON.stringify({ keys: [{ name: "a", profile: "standard", hash: "abc", created }] }),
    "a key in clear instead of a hash": JSON.stringify({ keys: [{ name: "a", profile: "standard", key: "caas_x", created }] }),
    "a repeated name": JSON.stringify({
      keys: [
        { name: "a", profile: "standard", hash, created },
        { name: "a", profile: "standard", hash: "b".repeat(64), created },
      ],
    }),
  };
  for (const [what, text] of Object.entries(broken)) {
    it(`refuses a file with ${what}`, async () => {
      const path = await keysPath();
      await writeFile(path, text);
      const error = await caught(ApiKeyStore.load(path));
      expect(error).toMatchObject({ code: "keys_file_invalid" });
      expect(error).toMatchObject({ store: "keys_file" });
      expect((error as StoreFileError).code).toBe("keys_file_invalid");
    });
  }
});

describe("ApiKeyStore.lookup", () => {
  const first = generateApiKey();
  const key = generateApiKey();
  const last = generateApiKey();
  const store = ApiKeyStore.fromKeys([
    { name: "one", key: first },
    { name: "main-server", key },
    { name: "three", key: last, profile: "django-compat" },
  ]);

  it("finds the record of a stored key, whichever position it holds", () => {
    expect(store.lookup(first)?.name).toBe("one");
    expect(store.lookup(key)).toEqual(lookedUp("main-server", "standard"));
    expect(store.lookup(last)).toEqual(lookedUp("three", "django-compat"));
  });

  it("answers undefined for every kind of wrong, missing or malformed key, all alike", () => {
    const flipped = key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
    const failures: unknown[] = [
      undefined,
      null,
      "",
      0,
      42,
      true,
      {},
      [],
      [key],
      new String(key),
      new TextEncoder().encode(key),
      { toString: () => key },
      flipped,
      key.slice(0, -1),
      `${key}x`,
      ` ${key}`,
      key.toUpperCase(),
      toHex(hashApiKey(key)),
      "caas_",
      "\ud800",
      `${key}\ud800`,
      "x".repeat(10_000),
      generateApiKey(),
    ];
    for (const presented of failures) expect(store.lookup(presented)).toBeUndefined();
  });

  it("answers undefined for everything when no keys file is configured", () => {
    const empty = ApiKeyStore.empty();
    expect(empty.size).toBe(0);
    for (const presented of [key, "", undefined, generateApiKey()]) expect(empty.lookup(presented)).toBeUndefined();
  });

  it("hands back no hash with the record", () => {
    const record = store.lookup(key);
    expect(Object.keys(record ?? {}).sort()).toEqual(["created", "name", "profile", "scopes"]);
  });
});

describe("scopes", () => {
  it.each(["pseudonym", "oracle", "keyring:orders", "keyring:orders:encrypt", "keyring:a.b-c_d:datakey-wrapped"])(
    "reads %p as one scope and writes it back the same",
    (text) => {
      const scope = parseScope(text);
      expect(scope).toBeDefined();
      expect(scopeText(scope ?? { to: "oracle" })).toBe(text);
    },
  );

  it.each(["", "Pseudonym", "keyring:", "keyring:orders:", "keyring:orders:encrypt:more", "keyring:orders:delete", "keyring::encrypt"])(
    "refuses %p",
    (text) => {
      expect(parseScope(text)).toBeUndefined();
    },
  );

  it("lets a whole-key scope do every operation on that key only, and datakey cover datakey-wrapped but not the reverse", () => {
    const scopes = parseScopes(["keyring:orders", "keyring:signer:datakey", "keyring:writer:datakey-wrapped"]);
    expect(allowsKeyring(scopes, "orders", "decrypt")).toBe(true);
    expect(allowsKeyring(scopes, "order", "decrypt")).toBe(false);
    expect(allowsKeyring(scopes, "signer", "datakey-wrapped")).toBe(true);
    expect(allowsKeyring(scopes, "writer", "datakey")).toBe(false);
    expect(allowsKeyring(scopes, "orders:encrypt", "encrypt")).toBe(false);
    expect(allowsFeature(scopes, "pseudonym")).toBe(false);
  });
});
