/**
 * The 316 Wycheproof AES-GCM vectors (tests/vectors/wycheproof/aes_gcm_test.json) through
 * crypto/aead-node.ts, as aead-wycheproof.test.ts runs them through the Web Crypto backend:
 *   valid   → sealWithKeySync gives exactly the vector's ciphertext and tag, and openSync gives the message back;
 *   invalid → openSync fails, and sealWithKeySync either refuses the parameters or gives another ciphertext/tag.
 *
 * Refused by design: IVs longer than 128 bytes, the most Bun's node:crypto takes (Web Crypto
 * takes any length). That is the 2056-bit IV group; the oracle uses 96-bit nonces and opens 96-
 * and 128-bit ones, so nothing it does is affected, and the test below proves the refusal is a
 * refusal (an error), never a wrong answer.
 */
import { describe, expect, it } from "bun:test";
import { openSync, sealWithKeySync, type Bytes } from "../../src/crypto/aead-node.ts";
import { fromHex, toHex } from "../../src/crypto/encoding.ts";
import { allVectors, type Group, type Vector } from "../cases/wycheproof-aes-gcm.ts";

/** The longest IV Bun's node:crypto accepts for GCM, in bytes (measured on Bun 1.4.5). */
const LONGEST_IV_BYTES = 128;

const refusedByDesign = (group: Group) => group.ivSize / 8 > LONGEST_IV_BYTES;
const groupName = (group: Group) => `${group.keySize}/${group.ivSize}/${group.tagSize}`;
const hex = (text: string): Bytes => fromHex(text);

function sealsTo(group: Group, vector: Vector): { ciphertext: string; tag: string } | "refused" {
  try {
    const sealed = sealWithKeySync(
      { key: hex(vector.key), nonce: hex(vector.iv), plaintext: hex(vector.msg), aad: hex(vector.aad) },
      group.tagSize / 8,
    );
    return { ciphertext: toHex(sealed.ciphertext), tag: toHex(sealed.tag) };
  } catch {
    return "refused";
  }
}

function opensTo(vector: Vector): string | "fails" {
  try {
    return toHex(
      openSync({ key: hex(vector.key), nonce: hex(vector.iv), ciphertext: hex(vector.ct), tag: hex(vector.tag), aad: hex(vector.aad) }),
    );
  } catch {
    return "fails";
  }
}

describe("Wycheproof AES-GCM vectors through node:crypto", () => {
  const run = allVectors.filter(({ group }) => !refusedByDesign(group));
  const refused = allVectors.filter(({ group }) => refusedByDesign(group));

  it("runs every vector but the 2056-bit IV group, which is refused by design", () => {
    expect(allVectors.length).toBe(316);
    expect(new Set(refused.map(({ group }) => group.ivSize))).toEqual(new Set([2056]));
    expect(run.length + refused.length).toBe(316);
    expect(run.length).toBeGreaterThan(300);
  });

  for (const { group, vector } of run) {
    const label = `tcId ${vector.tcId} [${groupName(group)}${vector.flags.length > 0 ? ` ${vector.flags.join(",")}` : ""}] is ${vector.result}`;
    if (vector.result === "valid") {
      it(`${label}: seals to its ciphertext and tag, and opens to its message`, () => {
        expect(sealsTo(group, vector)).toEqual({ ciphertext: vector.ct, tag: vector.tag });
        expect(opensTo(vector)).toBe(vector.msg);
      });
    } else {
      it(`${label}: does not open, and sealing its message gives something else`, () => {
        expect(opensTo(vector)).toBe("fails");
        const sealed = sealsTo(group, vector);
        if (sealed !== "refused") expect(sealed).not.toEqual({ ciphertext: vector.ct, tag: vector.tag });
      });
    }
  }

  it("refuses the IVs longer than 128 bytes with an error, never a wrong answer", () => {
    expect(refused.length).toBeGreaterThan(0);
    for (const { group, vector } of refused) {
      expect(sealsTo(group, vector)).toBe("refused");
      expect(opensTo(vector)).toBe("fails");
    }
  });

  it("refuses the zero-length IV (CVE-2017-7822) when sealing", () => {
    const emptyIv = allVectors.filter(({ group }) => group.ivSize === 0);
    expect(emptyIv.length).toBe(6);
    for (const { group, vector } of emptyIv) expect(sealsTo(group, vector)).toBe("refused");
  });
});
