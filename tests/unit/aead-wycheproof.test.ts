/**
 * All 316 Wycheproof AES-GCM vectors (tests/vectors/wycheproof/aes_gcm_test.json, see SOURCE)
 * through crypto/aead.ts, each behaving as its `result` says:
 *   valid   → sealWithKey gives exactly the vector's ciphertext and tag, and open() gives the message back;
 *   invalid → open() fails, and sealWithKey either refuses the parameters or gives another ciphertext/tag.
 * The file has no "acceptable" vectors (checked below, so a new release that adds some is noticed).
 *
 * Which groups Web Crypto (WebKit's implementation over BoringSSL, in Bun 1.4.5) supports, as measured:
 * every group in the file. AES-128, AES-192 and AES-256 keys; every IV size from 8 to 2056 bits
 * (IVs other than 96 bits go through GHASH, as SP 800-38D says); the file's only tag size, 128 bits.
 * Nothing is refused by design, so REFUSED_BY_DESIGN is empty; the one thing refused is the
 * zero-length IV, whose six vectors are "invalid" (CVE-2017-7822: GCM with an empty IV leaks the
 * authentication key): Web Crypto refuses to encrypt with it, and open() fails, which is the
 * behaviour the vectors ask for. If Bun ever stops supporting a group (say AES-192 or short IVs),
 * the valid vectors of that group fail here; if it starts accepting an empty IV, the invalid ones do.
 */
import { describe, expect, it } from "bun:test";
import { open, sealWithKey, type Bytes } from "../../src/crypto/aead.ts";
import { fromHex, toHex } from "../../src/crypto/encoding.ts";
import { allVectors, groups, numberOfTests, type Group, type Vector } from "../cases/wycheproof-aes-gcm.ts";

/**
 * Groups this project decides not to run, with the reason, as `keySize/ivSize/tagSize` in bits.
 * Empty: Web Crypto in Bun handles every group of the file (see the header).
 */
const REFUSED_BY_DESIGN: ReadonlyMap<string, string> = new Map();

const groupName = (group: Group) => `${group.keySize}/${group.ivSize}/${group.tagSize}`;
const hex = (text: string): Bytes => fromHex(text);

async function sealsTo(group: Group, vector: Vector): Promise<{ ciphertext: string; tag: string } | "refused"> {
  try {
    const sealed = await sealWithKey(
      { key: hex(vector.key), nonce: hex(vector.iv), plaintext: hex(vector.msg), aad: hex(vector.aad) },
      group.tagSize / 8,
    );
    return { ciphertext: toHex(sealed.ciphertext), tag: toHex(sealed.tag) };
  } catch {
    return "refused";
  }
}

async function opensTo(vector: Vector): Promise<string | "fails"> {
  try {
    const message = await open({
      key: hex(vector.key),
      nonce: hex(vector.iv),
      ciphertext: hex(vector.ct),
      tag: hex(vector.tag),
      aad: hex(vector.aad),
    });
    return toHex(message);
  } catch {
    return "fails";
  }
}

describe("Wycheproof AES-GCM vectors", () => {
  const run = allVectors.filter(({ group }) => !REFUSED_BY_DESIGN.has(groupName(group)));
  const refused = allVectors.filter(({ group }) => REFUSED_BY_DESIGN.has(groupName(group)));

  it("covers all 316 vectors: every one is run or refused by design, and none is merely 'acceptable'", () => {
    expect(numberOfTests).toBe(316);
    expect(allVectors.length).toBe(316);
    expect(run.length + refused.length).toBe(316);
    expect(run.length).toBe(316);
    expect(run.filter(({ vector }) => vector.result === "valid").length).toBe(229);
    expect(run.filter(({ vector }) => vector.result === "invalid").length).toBe(87);
    expect(allVectors.filter(({ vector }) => vector.result === "acceptable")).toEqual([]);
  });

  it("runs AES-128, AES-192 and AES-256 with IVs from 8 to 2056 bits and the 128-bit tag", () => {
    expect(new Set(groups.map((group) => group.keySize))).toEqual(new Set([128, 192, 256]));
    expect(new Set(groups.map((group) => group.tagSize))).toEqual(new Set([128]));
    expect(Math.max(...groups.map((group) => group.ivSize))).toBe(2056);
  });

  for (const { group, vector } of run) {
    const label = `tcId ${vector.tcId} [${groupName(group)}${vector.flags.length > 0 ? ` ${vector.flags.join(",")}` : ""}] is ${vector.result}`;
    if (vector.result === "valid") {
      it(`${label}: seals to its ciphertext and tag, and opens to its message`, async () => {
        expect(await sealsTo(group, vector)).toEqual({ ciphertext: vector.ct, tag: vector.tag });
        expect(await opensTo(vector)).toBe(vector.msg);
      });
    } else {
      it(`${label}: does not open, and sealing its message gives something else`, async () => {
        expect(await opensTo(vector)).toBe("fails");
        const sealed = await sealsTo(group, vector);
        if (sealed !== "refused") expect(sealed).not.toEqual({ ciphertext: vector.ct, tag: vector.tag });
      });
    }
  }

  it("refuses the zero-length IV (CVE-2017-7822) when sealing, as Web Crypto must", async () => {
    const emptyIv = allVectors.filter(({ group }) => group.ivSize === 0);
    expect(emptyIv.length).toBe(6);
    for (const { group, vector } of emptyIv) {
      expect(vector.result).toBe("invalid");
      expect(await sealsTo(group, vector)).toBe("refused");
    }
  });
});
