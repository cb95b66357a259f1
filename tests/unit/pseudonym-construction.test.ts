/**
 * The construction written at the top of service.ts, rebuilt here from its description with
 * @noble/hashes alone (no code of ours but the pool's order), and a pinned answer: changing any
 * of it changes every pseudonym a deployment has stored, so that must never happen by accident.
 */
import { describe, expect, it } from "bun:test";
import { scratchDirectories } from "./scratch.ts";
import { join } from "node:path";
import { blake2b, blake2s } from "@noble/hashes/blake2.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256, sha384, sha512, sha512_256 } from "@noble/hashes/sha2.js";
import { sha3_256, sha3_384, sha3_512 } from "@noble/hashes/sha3.js";
import { type CHash, createHasher } from "@noble/hashes/utils.js";
import { fromHex, toHex } from "../../src/crypto/encoding.ts";
import { POOL_ALGORITHMS, type PoolAlgorithm } from "../../src/crypto/hash.ts";
import { initSecretFile, loadSecretRing, makeSecretRing } from "../../src/credentials/secret-ring.ts";
import { pseudonymFor, selectFor } from "../../src/modules/pseudonym/profiles/standard.ts";
import { README_USER } from "../../support/constants.ts";

/** Computed once when the construction was settled; see the file's header before changing it. */
const PINNED = {
  digest:
    "7f19337caa153867d85b9bab4244a4a1362d13f9e5b35727b24c952f532d0bee425f5b7567430498e752dd9f9db3919335cce6ddbf437b3a33a18e6e5fb665e3",
  algorithm: "sha512" as PoolAlgorithm,
};

const hashes: Record<PoolAlgorithm, CHash> = {
  sha256,
  sha384,
  sha512,
  "sha512-256": sha512_256,
  "sha3-256": sha3_256,
  "sha3-384": sha3_384,
  "sha3-512": sha3_512,
  blake2b256: createHasher(() => blake2b.create({ dkLen: 32 })),
  blake2b512: blake2b,
  blake2s256: blake2s,
};

const utf8 = (text: string) => new TextEncoder().encode(text);
const none = new Uint8Array(0);

/** The construction, step by step, as the README states it. */
function referencePseudonym(secret: Uint8Array, userId: string, data: string): { digest: string; algorithm: string; salt: string } {
  const id = userId.toLowerCase();
  // The salt pool: 4 salts each of 8, 16, 32 and 64 base64url characters, from one HKDF stream.
  const lengths = [8, 16, 32, 64].flatMap((length) => [length, length, length, length]);
  const stream = hkdf(
    sha256,
    secret,
    none,
    utf8("caas/pseudonym/v1/salt-pool"),
    lengths.reduce((s, l) => s + (l * 3) / 4, 0),
  );
  let offset = 0;
  const salts = lengths.map((length) => {
    const bytes = stream.subarray(offset, offset + (length * 3) / 4);
    offset += (length * 3) / 4;
    return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
  });
  // 1. Pick: 32-bit words of HMAC-SHA256(selection key, u32be(counter) || id), rejection-sampled.
  const selectionKey = hkdf(sha256, secret, none, utf8("caas/pseudonym/v1/selection-key"), 32);
  const n = POOL_ALGORITHMS.length * salts.length;
  const limit = 2 ** 32 - (2 ** 32 % n);
  let index = -1;
  for (let counter = 0; index < 0; counter++) {
    const message = new Uint8Array([counter >>> 24, (counter >>> 16) & 255, (counter >>> 8) & 255, counter & 255, ...utf8(id)]);
    const block = hmac(sha256, selectionKey, message);
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let at = 0; at < 32 && index < 0; at += 4) {
      const word = view.getUint32(at);
      if (word < limit) index = word % n;
    }
  }
  const algorithm = POOL_ALGORITHMS[index % POOL_ALGORITHMS.length] ?? "sha256";
  const salt = salts[Math.floor(index / POOL_ALGORITHMS.length)] ?? "";
  // 2. Key: HKDF-SHA256(secret, salt, "caas/pseudonym/v1/user-key\0algorithm\0id"), output-sized.
  const hash = hashes[algorithm];
  const key = hkdf(sha256, secret, utf8(salt), utf8(`caas/pseudonym/v1/user-key\0${algorithm}\0${id}`), hash.outputLen);
  // 3. Digest: HMAC-<algorithm>(key, UTF-8 data), lowercase hex.
  return { digest: toHex(hmac(hash, key, utf8(data))), algorithm, salt };
}

const scratch = scratchDirectories("caas-pseudonym-");

describe("the pseudonym construction", () => {
  it("is exactly the three steps described, checked against an independent rebuild for 500 users", () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const ring = makeSecretRing([{ version: 1, created: new Date().toISOString(), secret }]);
    const algorithms = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const id = crypto.randomUUID();
      const data = `data ${i} ✓`;
      const reference = referencePseudonym(secret, id, data);
      expect(pseudonymFor(ring, id, data).digest).toBe(reference.digest);
      const selection = selectFor(ring.newest, id);
      expect([selection.algorithm, selection.salt.text]).toEqual([reference.algorithm, reference.salt]);
      algorithms.add(reference.algorithm);
    }
    expect(algorithms.size).toBe(POOL_ALGORITHMS.length);
  });

  it("still gives the answer pinned when it was designed, so stored pseudonyms stay valid", () => {
    const secret = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const ring = makeSecretRing([{ version: 1, created: "2025-01-01T00:00:00.000Z", secret }]);
    const id = README_USER;
    expect(pseudonymFor(ring, id, "example sensitive data")).toEqual({ digest: PINNED.digest, version: 1 });
    expect(referencePseudonym(secret, id, "example sensitive data").digest).toBe(PINNED.digest);
    expect(selectFor(ring.newest, id).algorithm).toBe(PINNED.algorithm);
  });

  it("gives the same digest in a new process reading the same secret file, as after a restart", async () => {
    const directory = await scratch();
    const path = join(directory, "secret.json");
    await initSecretFile(path);
    const id = crypto.randomUUID();
    const here = pseudonymFor(await loadSecretRing(path), id, "across a restart");
    const script = `
      import { loadSecretRing } from ${JSON.stringify(new URL("../../src/credentials/secret-ring.ts", import.meta.url).pathname)};
      import { pseudonymFor } from ${JSON.stringify(new URL("../../src/modules/pseudonym/profiles/standard.ts", import.meta.url).pathname)};
      const [path, id] = process.argv.slice(-2);
      const ring = await loadSecretRing(path);
      process.stdout.write(JSON.stringify(pseudonymFor(ring, id, "across a restart")));
    `;
    const run = Bun.spawnSync([process.execPath, "-e", script, path, id.toUpperCase()], { stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(JSON.parse(run.stdout.toString())).toEqual(here);
  });
});
