/**
 * What `caas keyring rotate` and `promote` say next, by the key's type: a signing or MAC key's
 * staged version verifies (it decrypts nothing), and a published key's says how long verifiers
 * may cache the JWKS, which is how long its activation must wait after the last reload.
 */
import { describe, expect, it } from "bun:test";
import { join } from "node:path";
import { runKeyringCommand } from "../../src/cli/keyring.ts";
import { JWKS_MAX_AGE_SECONDS } from "../../src/credentials/key-types.ts";
import { initRootKey } from "../../src/credentials/root-key.ts";
import { runCommand } from "./helpers.ts";
import { scratchDirectories } from "./scratch.ts";

const scratch = scratchDirectories("caas-keyring-cli-words-");

async function keyringWith(type: string, publish: boolean) {
  const dir = await scratch();
  const files = ["--file", join(dir, "keyring.json"), "--root-key", join(dir, "root-key")];
  await initRootKey(join(dir, "root-key"));
  const created = await runCommand(runKeyringCommand, ["create", "k", "--type", type, ...(publish ? ["--publish"] : []), ...files]);
  expect(created.code).toBe(0);
  return (...args: string[]) => runCommand(runKeyringCommand, [...args, ...files]);
}

describe("keyring rotate and promote of a published key", () => {
  it("warn when the new version activates sooner than verifiers may cache the JWKS, whichever command sets the time", async () => {
    const keyring = await keyringWith("ecdsa-p256", true);
    const rotated = await keyring("rotate", "k", "--activate-in", "10s");
    expect(rotated.code).toBe(0);
    expect(rotated.err).toEqual([
      expect.stringContaining('caas keyring rotate: warning: version 2 of "k" activates 10 s after it was staged'),
    ]);
    const staged = await keyring("rotate", "k", "--activate-in", `${JWKS_MAX_AGE_SECONDS + 60}s`);
    expect(staged.err).toEqual([]);
  });

  it("says nothing more when the activation leaves verifiers the JWKS's cache lifetime", async () => {
    const keyring = await keyringWith("ed25519", true);
    expect((await keyring("rotate", "k")).code).toBe(0);
    const promoted = await keyring("promote", "k", "2", "--in", `${JWKS_MAX_AGE_SECONDS + 60}s`);
    expect(promoted.code).toBe(0);
    expect(promoted.err).toEqual([]);
  });
});

describe("keyring rotate and promote say what the version does, by the key's type", () => {
  for (const [type, publish, trusted, makes] of [
    ["xaes-256-gcm", false, "decrypts", "ciphertexts"],
    ["hmac-sha256", false, "verifies", "MACs and JWTs"],
    ["ed25519", false, "verifies", "signatures and JWTs"],
    ["ecdsa-p256", true, "verifies", "signatures and JWTs"],
  ] as const) {
    it(`${type}${publish ? ", published" : ""}`, async () => {
      const keyring = await keyringWith(type, publish);
      const rotated = await keyring("rotate", "k");
      expect(rotated.code).toBe(0);
      expect(rotated.out[0]).toContain(`version 2 of "k" staged: it ${trusted} on every instance that has reloaded`);
      const waits = rotated.out.filter((line) => line.includes("/.well-known/jwks.json"));
      expect(waits).toEqual(
        publish ? [expect.stringContaining(`at least ${JWKS_MAX_AGE_SECONDS} s after the last instance reloaded`)] : [],
      );
      const promoted = await keyring("promote", "k", "2");
      expect(promoted.out).toEqual([`version 2 of "k" is active: it makes new ${makes} on every instance that has loaded it.`]);
      // Promoted at once, a published key's new version may reach a verifier whose cached JWKS lacks it.
      expect(promoted.err).toEqual(
        publish ? [expect.stringContaining(`a verifier may hold the JWKS from before it for ${JWKS_MAX_AGE_SECONDS} s`)] : [],
      );
    });
  }
});
