/**
 * Development mode's keyring: on a first start it holds a key for every endpoint family, and a
 * development keyring made by a build that had only the encryption key gains the others on the
 * next start, once however many processes start at once, with the key it had kept as it was.
 */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { DEV_KEYRING_FILE, DEV_ROOT_KEY_FILE, ensureDevKeyring, planDevKeyring } from "../../src/credentials/development.ts";
import { createKeyringFile, listKeyring } from "../../src/credentials/keyring-file.ts";
import { initRootKey, loadRootKey } from "../../src/credentials/root-key.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-dev-keyring-");

const typesOf = async (state: string) =>
  Object.fromEntries(
    (await listKeyring(join(state, DEV_KEYRING_FILE), join(state, DEV_ROOT_KEY_FILE))).map((key) => [
      key.name,
      [key.type, key.publish === true],
    ]),
  );

describe("the development keyring", () => {
  it("holds an encryption key, a published signing key and an HMAC key on the first start", async () => {
    const state = await scratch();
    const dev = await ensureDevKeyring(state);
    expect(dev.created).toBe(true);
    expect([...dev.keyring.names].sort()).toEqual(["dev", "dev-hmac", "dev-jwt"]);
    expect(await typesOf(state)).toEqual({
      dev: ["xaes-256-gcm", false],
      "dev-jwt": ["ecdsa-p256", true],
      "dev-hmac": ["hmac-sha256", false],
    });
    expect((await ensureDevKeyring(state)).created).toBe(false);
    expect(await planDevKeyring(state)).toEqual([]);
  });

  it("gains the keys an older build did not make, once, when several processes start at once, keeping the one it had", async () => {
    const state = await scratch();
    const rootKeyPath = join(state, DEV_ROOT_KEY_FILE);
    const keyringPath = join(state, DEV_KEYRING_FILE);
    await initRootKey(rootKeyPath);
    const old = await createKeyringFile(keyringPath, await loadRootKey(rootKeyPath), [{ name: "dev" }]);
    const sealed = old.get("dev")?.activeVersion;
    // serve --check says what the start would add, and adds nothing.
    expect(await planDevKeyring(state)).toEqual([
      `keys 'dev-jwt', 'dev-hmac' in ${keyringPath} (development keys an older build did not make)`,
    ]);
    expect((await listKeyring(keyringPath, rootKeyPath)).map((key) => key.name)).toEqual(["dev"]);
    const starts = await Promise.all([1, 2, 3, 4].map(() => ensureDevKeyring(state)));
    for (const start of starts) expect([...start.keyring.names].sort()).toEqual(["dev", "dev-hmac", "dev-jwt"]);
    const listed = await listKeyring(keyringPath, rootKeyPath);
    expect(listed.map((key) => key.name).sort()).toEqual(["dev", "dev-hmac", "dev-jwt"]);
    expect(listed.find((key) => key.name === "dev")?.versions.length).toBe(1);
    expect(starts[0]?.keyring.get("dev")?.activeVersion).toBe(sealed);
  });
});
