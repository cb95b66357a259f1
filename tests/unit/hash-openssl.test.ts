/**
 * hmac() for every pool algorithm against independent implementations: Node's OpenSSL, run as
 * a separate `node` process, and @noble/hashes. OpenSSL (Node 20) has no BLAKE2b-256 digest
 * ("Invalid digest: blake2b256"; it only knows blake2b512 and blake2s256), so HMAC-BLAKE2b-256
 * is checked against @noble/hashes alone; the test below proves that gap is still there.
 */
import { beforeAll, describe, expect, it } from "bun:test";
import { blake2b, blake2s } from "@noble/hashes/blake2.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha256, sha384, sha512, sha512_256 } from "@noble/hashes/sha2.js";
import { sha3_256, sha3_384, sha3_512 } from "@noble/hashes/sha3.js";
import { type CHash, createHasher } from "@noble/hashes/utils.js";
import { toHex } from "../../src/crypto/encoding.ts";
import { hmac, POOL_ALGORITHMS, type PoolAlgorithm } from "../../src/crypto/hash.ts";

const blake2b256 = createHasher(() => blake2b.create({ dkLen: 32 }));
const noble: Record<PoolAlgorithm, CHash> = {
  sha256,
  sha384,
  sha512,
  "sha512-256": sha512_256,
  "sha3-256": sha3_256,
  "sha3-384": sha3_384,
  "sha3-512": sha3_512,
  blake2b256,
  blake2b512: blake2b,
  blake2s256: blake2s,
};

/** OpenSSL's names for the pool's algorithms, where it has them. */
const openssl: Partial<Record<PoolAlgorithm, string>> = {
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
  "sha512-256": "sha512-256",
  "sha3-256": "sha3-256",
  "sha3-384": "sha3-384",
  "sha3-512": "sha3-512",
  blake2b512: "blake2b512",
  blake2s256: "blake2s256",
};

// Around every block size in the pool (64 for SHA-256 and BLAKE2s, 128 for SHA-384/512 and
// BLAKE2b, 72 to 136 for SHA-3): keys longer than a block are hashed first, a path of its own.
const KEY_LENGTHS = [0, 1, 16, 31, 32, 63, 64, 65, 71, 72, 73, 104, 127, 128, 129, 136, 137, 200];
const DATA_LENGTHS = [0, 1, 55, 64, 65, 127, 128, 129, 1000];

interface Case {
  algorithm: PoolAlgorithm;
  key: Uint8Array;
  data: Uint8Array;
}

const cases: Case[] = [];
for (const algorithm of POOL_ALGORITHMS) {
  for (const keyLength of KEY_LENGTHS) {
    for (const dataLength of DATA_LENGTHS) {
      cases.push({
        algorithm,
        key: crypto.getRandomValues(new Uint8Array(keyLength)),
        data: crypto.getRandomValues(new Uint8Array(dataLength)),
      });
    }
  }
}

const NODE_SCRIPT = `
const crypto = require("node:crypto");
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const out = input.cases.map(({ name, key, data }) =>
  crypto.createHmac(name, Buffer.from(key, "hex")).update(Buffer.from(data, "hex")).digest("hex"));
const unsupported = {};
for (const name of input.probe) {
  try { crypto.createHmac(name, "k"); unsupported[name] = false; } catch { unsupported[name] = true; }
}
process.stdout.write(JSON.stringify({ out, unsupported, openssl: process.versions.openssl }));
`;

interface NodeAnswer {
  out: string[];
  unsupported: Record<string, boolean>;
  openssl: string;
}

let fromNode: NodeAnswer;
const opensslCases = cases.filter((c) => openssl[c.algorithm] !== undefined);

beforeAll(() => {
  const node = Bun.which("node");
  if (node === null) throw new Error("these tests need `node` (Node's OpenSSL is the independent implementation)");
  const input = JSON.stringify({
    cases: opensslCases.map((c) => ({ name: openssl[c.algorithm], key: toHex(c.key), data: toHex(c.data) })),
    probe: ["blake2b256", "blake2s256", "blake2b512"],
  });
  const run = Bun.spawnSync([node, "-e", NODE_SCRIPT], { stdin: new TextEncoder().encode(input), stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`node failed: ${run.stderr.toString()}`);
  fromNode = JSON.parse(run.stdout.toString()) as NodeAnswer;
});

describe("hmac() against Node's OpenSSL", () => {
  for (const algorithm of POOL_ALGORITHMS.filter((a) => openssl[a] !== undefined)) {
    it(`agrees with OpenSSL's HMAC-${algorithm} for keys and data around every block size`, () => {
      let checked = 0;
      opensslCases.forEach((c, i) => {
        if (c.algorithm !== algorithm) return;
        const label = `${algorithm} key ${c.key.length} data ${c.data.length}`;
        expect(`${label}: ${toHex(hmac(c.algorithm, c.key, c.data))}`).toBe(`${label}: ${fromNode.out[i]}`);
        checked++;
      });
      expect(checked).toBe(KEY_LENGTHS.length * DATA_LENGTHS.length);
    });
  }

  it("still cannot check blake2b256 with OpenSSL, which has no such digest (so @noble/hashes does)", () => {
    expect(fromNode.unsupported).toEqual({ blake2b256: true, blake2s256: false, blake2b512: false });
  });
});

describe("hmac() against @noble/hashes", () => {
  for (const algorithm of POOL_ALGORITHMS) {
    it(`agrees with noble's HMAC-${algorithm} for keys and data around every block size`, () => {
      for (const c of cases.filter((x) => x.algorithm === algorithm)) {
        const label = `${algorithm} key ${c.key.length} data ${c.data.length}`;
        expect(`${label}: ${toHex(hmac(c.algorithm, c.key, c.data))}`).toBe(
          `${label}: ${toHex(nobleHmac(noble[algorithm], c.key, c.data))}`,
        );
      }
    });
  }

  it("builds HMAC-BLAKE2s with a 64-byte block, as RFC 2104 and BLAKE2s's block size require", () => {
    expect(blake2s.blockLen).toBe(64);
    expect(blake2b256.blockLen).toBe(128);
  });
});
