/**
 * The keyring's promises, as properties: what it seals it opens (text and bytes, with and
 * without aad); anything altered, or opened under the wrong aad, name or version, is refused
 * with a 4xx code and never a throw of anything else; rotation keeps old ciphertexts open;
 * rewrap keeps the plaintext; the minimum decryption version retires exactly the versions below
 * it. Then the files: wrapped versions are bound to their name and version, and a keyring does
 * not open under another root key. And the routes: scopes decide before anything else.
 */
import { describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { postJson, testApp } from "./helpers.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { Keyring, KeyringKey } from "../../src/credentials/keyring.ts";
import {
  addRootKey,
  createKeyringKey,
  promoteKeyringVersion,
  removeRootKey,
  rotateKeyringKey,
  setMinDecryptionVersion,
  trimKeyringKey,
} from "../../src/credentials/keyring-changes.ts";
import { loadKeyring } from "../../src/credentials/keyring-file.ts";
import { initRootKey, loadRootKey } from "../../src/credentials/root-key.ts";
import { XaesKey } from "../../src/crypto/xaes.ts";
import { CaasError, RequestError } from "../../src/errors.ts";
import { AuditTrail } from "../../src/http/audit.ts";
import { decryptWith, encryptWith, rewrapWith } from "../../src/modules/keyring/service.ts";
import { README_USER } from "../../support/constants.ts";
import { scratchDirectories } from "./scratch.ts";

// Made 0700 (mkdtemp), as the private files in them require, and removed after the last test.
const scratch = scratchDirectories("caas-keyring-");

const ascii = (text: string) => new TextEncoder().encode(text);

const RUNS = Number(process.env.CAAS_FUZZ_RUNS ?? 200);

function randomKey(): XaesKey {
  return new XaesKey(crypto.getRandomValues(new Uint8Array(32)));
}

/** A key with versions first..newest, each its own random key (the same XaesKey for equal numbers across calls is not promised). */
function keyWith(name: string, first: number, newest: number, minDecryptionVersion = first, ciphers?: Map<number, XaesKey>): KeyringKey {
  const map = ciphers ?? new Map<number, XaesKey>();
  for (let version = first; version <= newest; version++) if (!map.has(version)) map.set(version, randomKey());
  for (const version of [...map.keys()]) if (version < first || version > newest) map.delete(version);
  const versions = [...map.keys()].sort((a, b) => a - b).map((version) => ({ version, created: new Date().toISOString() }));
  return new KeyringKey({ name, created: new Date().toISOString(), minDecryptionVersion, versions }, map);
}

/** key_version_unknown, where the ciphertext names a version above `newest` (a keyring not loaded here): never an authentication failure. */
function unknownIfAbove(ciphertext: string, newest: number): string[] {
  const version = /^caas:v([1-9]\d{0,9}):/.exec(ciphertext)?.[1];
  return version !== undefined && Number(version) > newest ? ["key_version_unknown"] : [];
}

/** The code a keyring operation refused with, or "ok"; anything that is not a RequestError fails the test. */
function outcome(action: () => unknown): string {
  try {
    action();
    return "ok";
  } catch (error) {
    if (error instanceof RequestError) return error.code;
    throw error;
  }
}

const text = fc.string({ unit: "grapheme", maxLength: 200 });
const bytesBase64 = fc.uint8Array({ maxLength: 200 }).map((bytes) => bytes.toBase64());
const aad = fc.option(fc.string({ maxLength: 40 }), { nil: undefined });

describe("keyring ciphertexts", () => {
  it("open to what was sealed: text and bytes, with and without aad", () => {
    const key = keyWith("orders", 1, 3);
    fc.assert(
      fc.property(text, aad, (data, extra) => {
        const sealed = encryptWith(key, { data, aad: extra });
        expect(sealed.version).toBe(3);
        expect(sealed.ciphertext).toStartWith("caas:v3:");
        expect(decryptWith(key, { ciphertext: sealed.ciphertext, aad: extra })).toEqual({ data });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(bytesBase64, aad, (data, extra) => {
        const sealed = encryptWith(key, { data, aad: extra, encoding: "base64" });
        expect(decryptWith(key, { ciphertext: sealed.ciphertext, aad: extra, encoding: "base64" })).toEqual({ data });
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses a flipped bit anywhere in the string with authentication_failed or invalid_ciphertext (key_version_unknown where the flip names a version above the newest), never a throw", () => {
    const key = keyWith("orders", 1, 3);
    const sealed = encryptWith(key, { data: "attack at dawn", aad: "order-42" }).ciphertext;
    fc.assert(
      fc.property(fc.nat({ max: sealed.length - 1 }), fc.integer({ min: 0, max: 15 }), (index, bit) => {
        const code = sealed.charCodeAt(index) ^ (1 << bit);
        const altered = sealed.slice(0, index) + String.fromCharCode(code) + sealed.slice(index + 1);
        expect(["authentication_failed", "invalid_ciphertext", ...unknownIfAbove(altered, 3)]).toContain(
          outcome(() => decryptWith(key, { ciphertext: altered, aad: "order-42" })),
        );
      }),
      { numRuns: RUNS * 5 },
    );
    // Every bit of every character, exhaustively, for the low byte.
    for (let index = 0; index < sealed.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const altered = sealed.slice(0, index) + String.fromCharCode(sealed.charCodeAt(index) ^ (1 << bit)) + sealed.slice(index + 1);
        expect(["authentication_failed", "invalid_ciphertext", ...unknownIfAbove(altered, 3)]).toContain(
          outcome(() => decryptWith(key, { ciphertext: altered, aad: "order-42" })),
        );
      }
    }
  });

  it("refuses any string at all with a request error, never a throw", () => {
    const key = keyWith("orders", 1, 2);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((tail) => `caas:v1:${tail}`),
          fc.base64String().map((tail) => `caas:v2:${tail}`),
        ),
        (ciphertext) => {
          expect(["authentication_failed", "invalid_ciphertext"]).toContain(outcome(() => decryptWith(key, { ciphertext })));
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  it("refuses the wrong aad, another key's name, or another version's number", () => {
    const ciphers = new Map<number, XaesKey>();
    const orders = keyWith("orders", 1, 2, 1, ciphers);
    // Same key material under another name: the name is authenticated, not only the material.
    const invoices = keyWith("invoices", 1, 2, 1, new Map(ciphers));
    fc.assert(
      fc.property(text, fc.string({ maxLength: 20 }), (data, extra) => {
        const sealed = encryptWith(orders, { data, aad: extra }).ciphertext;
        expect(outcome(() => decryptWith(orders, { ciphertext: sealed, aad: `${extra}x` }))).toBe("authentication_failed");
        expect(outcome(() => decryptWith(invoices, { ciphertext: sealed, aad: extra }))).toBe("authentication_failed");
        // The same bytes claimed by version 1 (whose key here is version 2's too, so only the number differs).
        const sameKeys = keyWith(
          "orders",
          1,
          2,
          1,
          new Map([
            [1, ciphers.get(2)!],
            [2, ciphers.get(2)!],
          ]),
        );
        expect(outcome(() => decryptWith(sameKeys, { ciphertext: sealed.replace("caas:v2:", "caas:v1:"), aad: extra }))).toBe(
          "authentication_failed",
        );
        // aad absent and aad "" are the same; "ab"+"c" is not "a"+"bc" (the framing has lengths).
        if (extra === "") expect(outcome(() => decryptWith(orders, { ciphertext: sealed }))).toBe("ok");
      }),
      { numRuns: RUNS },
    );
  });

  it("opens ciphertexts an earlier build made under fixed keys: the format and its associated data do not drift", () => {
    // TEST FIXTURE: key material 0x01..0x20 for version 1 and its complement for version 2, key "orders".
    const material = Uint8Array.from({ length: 32 }, (_, index) => index + 1);
    const created = "2026-01-01T00:00:00.000Z";
    const ciphers = new Map([
      [1, new XaesKey(material)],
      [2, new XaesKey(material.map((byte) => byte ^ 0xff))],
    ]);
    const key = new KeyringKey(
      { name: "orders", created, minDecryptionVersion: 1, versions: [1, 2].map((version) => ({ version, created })) },
      ciphers,
    );
    const text = (ciphertext: string, aad?: string) =>
      new TextDecoder().decode(key.open(ciphertext, aad === undefined ? undefined : ascii(aad)).plaintext);
    const sealedWithoutAad = "caas:v2:TwVmkAeN3/0TPTl5Pz8X3k3ExX41lV39ILCNbxOFjW5TyiAjWecgG0oMAdAT";
    const sealedWithEmptyAad = "caas:v2:pgkCwHfeZzNjMdB6jQP8TM8QHQnP1IZfQ36gjSzqMJ6TgFIbYCsmUGUFdpOE";
    const sealedWithAad = "caas:v2:Jncsjlfqypx1IMwJ9lRsp9gFwJCIdJHsBu+dNxIdV5sx2iBavbHu6UUfri8p";
    // No aad and an empty aad are one framing, so each opens the other's ciphertext.
    expect([text(sealedWithoutAad), text(sealedWithoutAad, ""), text(sealedWithEmptyAad), text(sealedWithAad, "ctx")]).toEqual([
      "hello",
      "hello",
      "hello",
      "hello",
    ]);
    expect(outcome(() => key.open(sealedWithAad))).toBe("authentication_failed");
    expect(outcome(() => key.open(sealedWithoutAad, ascii("ctx")))).toBe("authentication_failed");
  });

  it("keeps old ciphertexts open after a rotation, and seals new ones under the new version", () => {
    const ciphers = new Map<number, XaesKey>();
    let key = keyWith("orders", 1, 1, 1, ciphers);
    const made: { ciphertext: string; data: string; version: number }[] = [];
    for (let newest = 1; newest <= 6; newest++) {
      key = keyWith("orders", 1, newest, 1, ciphers);
      const data = `message under ${newest}`;
      const sealed = encryptWith(key, { data });
      expect(sealed.version).toBe(newest);
      made.push({ ...sealed, data });
      for (const old of made) expect(decryptWith(key, { ciphertext: old.ciphertext })).toEqual({ data: old.data });
    }
  });

  it("rewraps to the newest version with the plaintext and aad unchanged", () => {
    const ciphers = new Map<number, XaesKey>();
    const before = keyWith("orders", 1, 2, 1, ciphers);
    const after = keyWith("orders", 1, 5, 1, ciphers);
    fc.assert(
      fc.property(text, aad, (data, extra) => {
        const old = encryptWith(before, { data, aad: extra });
        const rewrapped = rewrapWith(after, { ciphertext: old.ciphertext, aad: extra });
        expect(rewrapped.version).toBe(5);
        expect(rewrapped.ciphertext).toStartWith("caas:v5:");
        expect(decryptWith(after, { ciphertext: rewrapped.ciphertext, aad: extra })).toEqual({ data });
      }),
      { numRuns: RUNS },
    );
  });

  it("retires exactly the versions below the minimum decryption version", () => {
    const ciphers = new Map<number, XaesKey>();
    const all = keyWith("orders", 1, 8, 1, ciphers);
    const sealed = new Map<number, string>();
    for (let version = 1; version <= 8; version++)
      sealed.set(version, keyWith("orders", 1, version, 1, ciphers).seal(new TextEncoder().encode(`v${version}`)).ciphertext);
    expect(all.newestVersion).toBe(8);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), (minimum) => {
        const key = keyWith("orders", 1, 8, minimum, ciphers);
        for (const [version, ciphertext] of sealed) {
          expect(outcome(() => decryptWith(key, { ciphertext }))).toBe(version < minimum ? "key_version_retired" : "ok");
        }
        // Trimmed below the minimum: still retired, not a different answer.
        const trimmed = keyWith("orders", minimum, 8, minimum, new Map(ciphers));
        for (const [version, ciphertext] of sealed)
          expect(outcome(() => decryptWith(trimmed, { ciphertext }))).toBe(version < minimum ? "key_version_retired" : "ok");
      }),
    );
  });

  it("refuses a plaintext that is not UTF-8 asked for as text, and gives it as base64", () => {
    const key = keyWith("orders", 1, 1);
    const { ciphertext } = encryptWith(key, { data: "//79", encoding: "base64" });
    expect(outcome(() => decryptWith(key, { ciphertext }))).toBe("plaintext_not_utf8");
    expect(decryptWith(key, { ciphertext, encoding: "base64" })).toEqual({ data: "//79" });
  });
});

describe("the keyring file", () => {
  it("opens under its root key only; another root key is refused whole", async () => {
    const dir = await scratch();
    await initRootKey(join(dir, "root"));
    await initRootKey(join(dir, "other"));
    await createKeyringKey(join(dir, "keyring.json"), join(dir, "root"), { name: "orders" });
    expect((await loadKeyring(join(dir, "keyring.json"), await loadRootKey(join(dir, "root")))).names).toEqual(["orders"]);
    await expect(loadKeyring(join(dir, "keyring.json"), await loadRootKey(join(dir, "other")))).rejects.toMatchObject({
      code: "keyring_root_key_mismatch",
    });
    await expect(initRootKey(join(dir, "root"))).rejects.toMatchObject({ code: "root_key_exists" });
  });

  it("binds each wrapped version to its name and number: moved elsewhere, it does not open", async () => {
    const dir = await scratch();
    const path = join(dir, "keyring.json");
    const root = join(dir, "root");
    await initRootKey(root);
    await createKeyringKey(path, root, { name: "orders" });
    await createKeyringKey(path, root, { name: "invoices" });
    await rotateKeyringKey(path, root, "orders");
    const original = JSON.parse(readFileSync(path, "utf8")) as { keys: { name: string; versions: { version: number; key: string }[] }[] };
    const swapped = structuredClone(original);
    // invoices' version 1 takes orders' version 1 material: another name.
    swapped.keys[1]!.versions[0]!.key = original.keys[0]!.versions[0]!.key;
    writeFileSync(path, JSON.stringify(swapped));
    await expect(loadKeyring(path, await loadRootKey(root))).rejects.toMatchObject({ code: "keyring_root_key_mismatch" });
    const renumbered = structuredClone(original);
    // orders' version 2 takes version 1's material: another number.
    renumbered.keys[0]!.versions[1]!.key = original.keys[0]!.versions[0]!.key;
    writeFileSync(path, JSON.stringify(renumbered));
    await expect(loadKeyring(path, await loadRootKey(root))).rejects.toMatchObject({ code: "keyring_root_key_mismatch" });
    // Nothing of the material is in the file in clear: every stored key is 72 wrapped bytes.
    for (const key of original.keys) for (const version of key.versions) expect(Buffer.from(version.key, "base64").length).toBe(72);
  });

  it("refuses a min decryption version past the active one, and a trim of versions that still decrypt", async () => {
    const dir = await scratch();
    const path = join(dir, "keyring.json");
    const root = join(dir, "root");
    await initRootKey(root);
    await createKeyringKey(path, root, { name: "orders" });
    await rotateKeyringKey(path, root, "orders");
    // Version 2 is staged: retiring 1 would leave nothing that encrypts.
    await expect(setMinDecryptionVersion(path, root, "orders", 2)).rejects.toMatchObject({ code: "keyring_file_refused" });
    await promoteKeyringVersion(path, root, "orders", { version: 2, activatesAt: Date.now() });
    await expect(setMinDecryptionVersion(path, root, "orders", 3)).rejects.toMatchObject({ code: "keyring_file_refused" });
    await expect(trimKeyringKey(path, root, "orders", 2)).rejects.toMatchObject({ code: "keyring_file_refused" });
    await setMinDecryptionVersion(path, root, "orders", 2);
    expect((await trimKeyringKey(path, root, "orders", 2)).deleted).toEqual([1]);
    await expect(setMinDecryptionVersion(path, root, "orders", 1)).rejects.toMatchObject({ code: "keyring_file_refused" });
    const keyring = await loadKeyring(path, await loadRootKey(root));
    expect(keyring.get("orders")?.info.versions.map((entry) => entry.version)).toEqual([2]);
  });
});

describe("keyring routes and scopes", () => {
  const KEYS = {
    whole: "caas-test-whole-key-0001",
    encryptOnly: "caas-test-encrypt-key-0001",
    pseudonymOnly: "caas-test-pseudonym-key-01",
  };

  async function appWith(config: { oracleRequireKey?: boolean } = {}): Promise<{
    handle: (path: string, body: unknown, key?: string) => Promise<{ status: number; body: Record<string, unknown> }>;
    keyring: Keyring;
    /** The audit trail's lines so far, parsed. */
    auditLines: () => Record<string, unknown>[];
  }> {
    const dir = await scratch();
    await initRootKey(join(dir, "root"));
    await createKeyringKey(join(dir, "keyring.json"), join(dir, "root"), { name: "orders" });
    const keyring = await loadKeyring(join(dir, "keyring.json"), await loadRootKey(join(dir, "root")));
    const apiKeys = ApiKeyStore.fromKeys([
      { name: "whole", key: KEYS.whole, scopes: ["keyring:orders", "keyring:ghost"] },
      { name: "encrypt-only", key: KEYS.encryptOnly, scopes: ["keyring:orders:encrypt"] },
      { name: "pseudonym-only", key: KEYS.pseudonymOnly },
    ]);
    const written: string[] = [];
    const app = testApp({
      config: { batchMax: 3, ...config },
      apiKeys,
      keyring,
      auditTrail: new AuditTrail({ append: (lines, done) => done(written.push(...lines)), reopen: () => undefined }),
    });
    return {
      keyring,
      auditLines: () =>
        written
          .join("")
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      handle: async (path, body, key) => {
        const answer = await app.handle(
          new Request(`http://localhost${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
            body: JSON.stringify(body),
          }),
        );
        return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
      },
    };
  }

  const OPERATIONS: readonly { readonly path: string; readonly body: unknown }[] = [
    { path: "encrypt", body: { data: "x" } },
    { path: "decrypt", body: { ciphertext: "caas:v1:AAAA" } },
    { path: "rewrap", body: { ciphertext: "caas:v1:AAAA" } },
    { path: "datakey", body: {} },
    { path: "encrypt/batch", body: { items: [] } },
    { path: "decrypt/batch", body: { items: [] } },
    { path: "rewrap/batch", body: { items: [] } },
  ];

  it("answers 401 first, then 403 for a key without the scope, whether or not the key name exists, before the body is looked at", async () => {
    const { handle } = await appWith();
    for (const operation of OPERATIONS) {
      for (const name of ["orders", "no-such-key", "a%20b"]) {
        expect((await handle(`/keyring/${name}/${operation.path}`, { wrong: true })).status).toBe(401);
        for (const key of [
          KEYS.pseudonymOnly,
          ...(operation.path === "encrypt" || operation.path === "encrypt/batch" ? [] : [KEYS.encryptOnly]),
        ]) {
          const answer = await handle(
            `/keyring/${name}/${operation.path}`,
            { items: Array.from({ length: 10 }, () => 1), wrong: true },
            key,
          );
          expect({ route: `${name}/${operation.path}`, status: answer.status, code: (answer.body.error as { code: string }).code }).toEqual(
            { route: `${name}/${operation.path}`, status: 403, code: "forbidden" },
          );
        }
      }
    }
  });

  it("reads a one-operation scope one way only: a name holding ':', sent or percent-encoded, is covered by no scope (403)", async () => {
    const { handle } = await appWith();
    // keyring:orders:encrypt is not the whole-key scope of a key named "orders:encrypt".
    for (const name of ["orders:encrypt", "orders%3Aencrypt", "orders%3aencrypt"]) {
      for (const operation of OPERATIONS) {
        const answer = await handle(`/keyring/${name}/${operation.path}`, operation.body, KEYS.encryptOnly);
        expect({ route: `${name}/${operation.path}`, status: answer.status }).toEqual({ route: `${name}/${operation.path}`, status: 403 });
      }
    }
    // A percent-encoded letter is the name it spells: the same key, under the same scope.
    expect((await handle("/keyring/%6Frders/encrypt", { data: "x" }, KEYS.encryptOnly)).status).toBe(200);
    expect((await handle("/keyring/%6Frders/decrypt", { ciphertext: "caas:v1:AAAA" }, KEYS.encryptOnly)).status).toBe(403);
  });

  it("names the refused caller in a 403's audit line, and no one (nor the key sent) in a 401's", async () => {
    const { handle, auditLines } = await appWith({ oracleRequireKey: true });
    expect((await handle("/keyring/orders/decrypt", { ciphertext: "caas:v1:AAAA" }, KEYS.encryptOnly)).status).toBe(403);
    expect((await handle("/keyring/no-such-key/encrypt/batch", { items: [] }, KEYS.pseudonymOnly)).status).toBe(403);
    expect((await handle("/oracleinvocation", { data: "x" }, KEYS.encryptOnly)).status).toBe(403);
    expect((await handle("/oracleinvocation", { data: "x", wrap_with: "orders" }, KEYS.encryptOnly)).status).toBe(403);
    expect((await handle("/keyring/orders/encrypt", { data: "x" }, "caas-not-a-key-at-all-0001")).status).toBe(401);
    expect((await handle("/oracleinvocation", { data: "x" })).status).toBe(401);
    const lines = auditLines().map(({ apiKeyName, operation, keyName, status, code, items }) => ({
      apiKeyName,
      operation,
      keyName,
      status,
      code,
      items,
    }));
    const refused = { status: 403, code: "forbidden", keyName: undefined, items: undefined };
    const unauthorized = { status: 401, code: "unauthorized", apiKeyName: undefined, keyName: undefined, items: undefined };
    expect(lines).toEqual([
      { ...refused, apiKeyName: "encrypt-only", operation: "keyring.decrypt" },
      { ...refused, apiKeyName: "pseudonym-only", operation: "keyring.encrypt_batch", items: 0 },
      { ...refused, apiKeyName: "encrypt-only", operation: "oracle.seal" },
      { ...refused, apiKeyName: "encrypt-only", operation: "oracle.seal" },
      { ...unauthorized, operation: "keyring.encrypt" },
      { ...unauthorized, operation: "oracle.seal" },
    ]);
    expect(JSON.stringify(auditLines())).not.toContain("caas-not-a-key-at-all-0001");
  });

  it("names in a batch decrypt's audit line each version its items opened under, once, and never a ciphertext", async () => {
    const ciphers = new Map<number, XaesKey>();
    const older = keyWith("orders", 1, 1, 1, ciphers);
    const key = keyWith("orders", 1, 2, 1, ciphers);
    const sealed = [older.seal(ascii("one")), key.seal(ascii("two")), older.seal(ascii("three"))].map((box) => box.ciphertext);
    const written: string[] = [];
    const app = testApp({
      apiKeys: [{ name: "whole", key: KEYS.whole, scopes: ["keyring:orders"] }],
      keyring: new Keyring([key]),
      auditTrail: new AuditTrail({ append: (lines, done) => done(written.push(...lines)), reopen: () => undefined }),
    });
    const items = [...sealed, "caas:v2:AAAA"].map((ciphertext) => ({ ciphertext }));
    const answer = await postJson(app, "/keyring/orders/decrypt/batch", { items }, { authorization: `Bearer ${KEYS.whole}` });
    expect(answer.status).toBe(200);
    const line = JSON.parse(written.join("").trim()) as Record<string, unknown>;
    expect([line.operation, line.keyName, line.keyVersion, line.keyVersions, line.items]).toEqual([
      "keyring.decrypt_batch",
      "orders",
      undefined,
      [1, 2],
      4,
    ]);
    for (const ciphertext of sealed) expect(written.join("")).not.toContain(ciphertext.slice(8, 24));
  });

  it("answers 404 unknown_key for a name the caller may use that the keyring lacks, and 200 where it has it", async () => {
    const { handle } = await appWith();
    for (const operation of OPERATIONS) {
      const missing = await handle(`/keyring/ghost/${operation.path}`, operation.body, KEYS.whole);
      expect((missing.body.error as { code: string }).code).toBe("unknown_key");
      expect(missing.status).toBe(404);
    }
    expect((await handle("/keyring/orders/encrypt", { data: "x" }, KEYS.encryptOnly)).status).toBe(200);
    expect((await handle("/keyring/orders/encrypt/batch", { items: [1, 2, 3, 4] }, KEYS.whole)).status).toBe(413);
  });

  it("refuses a keyring-only key on the pseudonym routes with 403", async () => {
    const { handle } = await appWith();
    const fields = { userUUID: README_USER, sensitiveData: "x" };
    for (const path of ["/encrypt", "/encode", "/verify", "/encrypt/batch"]) {
      const answer = await handle(path, { wrong: true }, KEYS.whole);
      expect({ path, status: answer.status }).toEqual({ path, status: 403 });
    }
    expect((await handle("/encrypt", fields, KEYS.pseudonymOnly)).status).toBe(200);
  });

  it("never lets a CaasError other than a request error out of a keyring operation on any input", () => {
    const key = keyWith("orders", 1, 1);
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string(), { nil: undefined }),
        fc.constantFrom("utf8", "base64", undefined),
        (data, extra, encoding) => {
          for (const action of [
            () => encryptWith(key, { data, aad: extra, encoding }),
            () => decryptWith(key, { ciphertext: data, aad: extra, encoding }),
            () => rewrapWith(key, { ciphertext: data, aad: extra }),
          ]) {
            try {
              action();
            } catch (error) {
              expect(error instanceof RequestError || !(error instanceof CaasError)).toBe(true);
              expect(error).toBeInstanceOf(RequestError);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("staged keyring versions", () => {
  async function keyringWithTwoVersions(activatesAt?: number) {
    const dir = await scratch();
    const path = join(dir, "keyring.json");
    const root = join(dir, "root");
    await initRootKey(root);
    await createKeyringKey(path, root, { name: "orders" });
    await rotateKeyringKey(path, root, "orders", activatesAt);
    return { dir, path, root, load: async () => (await loadKeyring(path, await loadRootKey(root))).get("orders") as KeyringKey };
  }

  it("decrypts with a staged version and never encrypts with it until it is promoted", async () => {
    const { path, root, load } = await keyringWithTwoVersions();
    const staged = await load();
    expect(staged.activeVersion).toBe(1);
    expect(encryptWith(staged, { data: "x" }).version).toBe(1);
    await promoteKeyringVersion(path, root, "orders", { version: 2, activatesAt: Date.now() });
    const promoted = await load();
    const sealed = encryptWith(promoted, { data: "made after the promotion" });
    expect(sealed.version).toBe(2);
    // An instance that loaded the staged version already opens what the promoted one makes.
    expect(decryptWith(staged, { ciphertext: sealed.ciphertext })).toEqual({ data: "made after the promotion" });
  });

  it("switches to a version at its activation time with no reload", async () => {
    const { load } = await keyringWithTwoVersions(Date.now() + 300);
    const key = await load();
    expect(key.activeVersion).toBe(1);
    await Bun.sleep(320);
    expect(key.activeVersion).toBe(2);
    expect(encryptWith(key, { data: "x" }).version).toBe(2);
  });

  it("answers key_version_unknown, never authentication_failed, for a version this instance has not loaded", async () => {
    const { path, root, load } = await keyringWithTwoVersions(Date.now());
    const older = await load();
    await rotateKeyringKey(path, root, "orders", Date.now());
    const newer = encryptWith(await load(), { data: "x" });
    expect(newer.version).toBe(3);
    expect(outcome(() => decryptWith(older, { ciphertext: newer.ciphertext }))).toBe("key_version_unknown");
  });

  it("writes no activation field for what the build before staged versions wrote (create), and one for a staged version", async () => {
    const { path } = await keyringWithTwoVersions();
    const stored = JSON.parse(readFileSync(path, "utf8")) as { keys: { versions: Record<string, unknown>[] }[] };
    expect(stored.keys[0]!.versions.map((entry) => entry.activation)).toEqual([undefined, "pending"]);
  });
});

describe("root key rotation", () => {
  it("opens the file under either root key between add and remove, then under the new one alone", async () => {
    const dir = await scratch();
    const path = join(dir, "keyring.json");
    const [oldRoot, newRoot] = [join(dir, "old-root"), join(dir, "new-root")];
    await initRootKey(oldRoot);
    await initRootKey(newRoot);
    await createKeyringKey(path, oldRoot, { name: "orders" });
    await rotateKeyringKey(path, oldRoot, "orders", Date.now());
    const sealed = encryptWith((await loadKeyring(path, await loadRootKey(oldRoot))).get("orders") as KeyringKey, { data: "kept" });
    await expect(loadKeyring(path, await loadRootKey(newRoot))).rejects.toMatchObject({ code: "keyring_root_key_mismatch" });
    // Removing the only wrapping is refused, and leaves the file as it was.
    const before = readFileSync(path, "utf8");
    await expect(removeRootKey(path, oldRoot, oldRoot)).rejects.toMatchObject({ code: "keyring_file_refused" });
    await expect(removeRootKey(path, newRoot, oldRoot)).rejects.toMatchObject({ code: "keyring_root_key_mismatch" });
    expect(readFileSync(path, "utf8")).toBe(before);

    expect((await addRootKey(path, oldRoot, newRoot)).versions).toBe(2);
    expect((await addRootKey(path, oldRoot, newRoot)).versions).toBe(0);
    for (const root of [oldRoot, newRoot]) {
      const key = (await loadKeyring(path, await loadRootKey(root))).get("orders") as KeyringKey;
      expect(decryptWith(key, { ciphertext: sealed.ciphertext })).toEqual({ data: "kept" });
    }
    expect((await removeRootKey(path, newRoot, oldRoot)).versions).toBe(2);
    await expect(loadKeyring(path, await loadRootKey(oldRoot))).rejects.toMatchObject({ code: "keyring_root_key_mismatch" });
    const key = (await loadKeyring(path, await loadRootKey(newRoot))).get("orders") as KeyringKey;
    expect(decryptWith(key, { ciphertext: sealed.ciphertext })).toEqual({ data: "kept" });
    const stored = JSON.parse(readFileSync(path, "utf8")) as { keys: { versions: Record<string, unknown>[] }[] };
    expect(stored.keys[0]!.versions.every((entry) => entry.also_wrapped === undefined)).toBe(true);
  });
});

describe("the keyring file's limits", () => {
  const wrapped = "A".repeat(96);
  const created = "2026-01-01T00:00:00.000Z";
  const keyWithVersions = (name: string, count: number) => ({
    name,
    created,
    min_decryption_version: 1,
    versions: Array.from({ length: count }, (_, i) => ({ version: i + 1, created, key: wrapped })),
  });

  for (const [what, file, message] of [
    [
      "50,001 versions in all",
      { keys: [keyWithVersions("a", 25_000), keyWithVersions("b", 25_001)] },
      "it holds 50,001 versions in all; a keyring holds at most 50,000",
    ],
    [
      "10,001 keys",
      { keys: Array.from({ length: 10_001 }, (_, i) => keyWithVersions(`k${i}`, 1)) },
      "it holds 10,001 keys; a keyring holds at most 10,000",
    ],
  ] as const) {
    it(`refuses a file of ${what}, naming the limit, and the same count of versions as caas writes them fits in the size limit`, async () => {
      const dir = await scratch();
      const path = join(dir, "keyring.json");
      const root = join(dir, "root");
      await initRootKey(root);
      const text = `${JSON.stringify(file, null, 2)}\n`;
      writeFileSync(path, text, { mode: 0o600 });
      const refused = await loadKeyring(path, await loadRootKey(root)).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(CaasError);
      expect((refused as Error).message).toContain(message);
      // With two extra wrappings and an activation on every version, still under 32 MiB: the count is reached first.
      const largest = text.replaceAll(
        `"key": "${wrapped}"`,
        `"activation": "${created}", "key": "${wrapped}", "also_wrapped": ["${wrapped}", "${wrapped}"]`,
      );
      expect(Buffer.byteLength(largest)).toBeLessThan(32 * 1024 * 1024);
    });
  }
});
