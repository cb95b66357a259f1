/**
 * caas's signature and MAC primitives (src/crypto/signing.ts) against the standards' vectors and
 * against implementations that are not theirs:
 *   - Wycheproof (tests/vectors/wycheproof, see SOURCE): every case of the Ed25519, ECDSA P-256
 *     (r‖s and DER), RSA-2048 PKCS#1 v1.5 and RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt)
 *     verification files through verifyWith, and of the HMAC-SHA-256 file through verifyHmacSha256;
 *   - RFC 4231's HMAC-SHA-256 test cases 1–7 and RFC 8037's Ed25519 JWS example (A.1, A.4, A.5);
 *   - fast-check: no changed byte of data, signature or MAC verifies, and each ECDSA form verifies
 *     only as itself;
 *   - Web Crypto (crypto.subtle) and @noble/curves verify caas's signatures and caas verifies theirs.
 */
import { describe, expect, it } from "bun:test";
import { createPublicKey, type KeyObject, type webcrypto } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import fc from "fast-check";
import { encodeUtf8, fromHex, toHex } from "../../src/crypto/encoding.ts";
import {
  generateSigningKey,
  HMAC_BYTES,
  hmacSha256,
  publicKeyJwk,
  type SignatureAlgorithm,
  type SignatureOptions,
  type SigningKeyPair,
  signingKeyFromPkcs8,
  signWith,
  verifyHmacSha256,
  verifyWith,
} from "../../src/crypto/signing.ts";
import ecdsaDerFile from "../vectors/wycheproof/ecdsa_secp256r1_sha256_test.json" with { type: "json" };
import ecdsaP1363File from "../vectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json" with { type: "json" };
import ed25519File from "../vectors/wycheproof/ed25519_test.json" with { type: "json" };
import hmacFile from "../vectors/wycheproof/hmac_sha256_test.json" with { type: "json" };
import rsaPssFile from "../vectors/wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json" with { type: "json" };
import rsaPkcs1File from "../vectors/wycheproof/rsa_signature_2048_sha256_test.json" with { type: "json" };

interface SignatureCase {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly msg: string;
  readonly sig: string;
  readonly result: string;
}

interface SignatureGroup {
  readonly publicKeyDer: string;
  readonly publicKeyPem: string;
  readonly publicKeyJwk?: webcrypto.JsonWebKey;
  /** The RSA PKCS#1 file names its JWK so. */
  readonly keyJwk?: webcrypto.JsonWebKey;
  readonly sha?: string;
  readonly mgfSha?: string;
  readonly sLen?: number;
  readonly tests: readonly SignatureCase[];
}

interface SignatureFile {
  readonly numberOfTests: number;
  readonly testGroups: readonly SignatureGroup[];
}

interface SignatureSuite {
  readonly file: string;
  readonly vectors: SignatureFile;
  readonly algorithm: SignatureAlgorithm;
  readonly options: SignatureOptions;
  /** How many cases the file holds: a file that yields fewer has changed or failed to load. */
  readonly cases: number;
}

const signatureSuites: readonly SignatureSuite[] = [
  { file: "ed25519_test.json", vectors: ed25519File, algorithm: "ed25519", options: {}, cases: 151 },
  {
    file: "ecdsa_secp256r1_sha256_p1363_test.json",
    vectors: ecdsaP1363File,
    algorithm: "ecdsa-p256",
    options: { ecdsaFormat: "p1363" },
    cases: 262,
  },
  {
    file: "ecdsa_secp256r1_sha256_test.json",
    vectors: ecdsaDerFile,
    algorithm: "ecdsa-p256",
    options: { ecdsaFormat: "der" },
    cases: 484,
  },
  {
    file: "rsa_signature_2048_sha256_test.json",
    vectors: rsaPkcs1File,
    algorithm: "rsa-2048",
    options: { rsaPadding: "pkcs1" },
    cases: 259,
  },
  {
    file: "rsa_pss_2048_sha256_mgf1_32_test.json",
    vectors: rsaPssFile,
    algorithm: "rsa-2048",
    options: { rsaPadding: "pss" },
    cases: 108,
  },
];

/**
 * What verifyWith answers for the cases Wycheproof marks `acceptable` (a verifier may take them or
 * not), by the flags that make them so. The only one in these files is a PKCS#1 v1.5 DigestInfo
 * without the NULL parameter (RFC 8017 §9.2, note 2, lets a verifier accept it). BoringSSL builds
 * the DigestInfo with its NULL and compares bytes, so it refuses: the stricter answer, and caas's
 * own signatures always carry the NULL. A new kind of acceptable case in a file fails the test
 * below until it is decided here.
 */
const ACCEPTABLE_ANSWERS: Readonly<Record<string, boolean>> = { MissingNull: false };

function expectedAnswer(vector: SignatureCase): boolean {
  if (vector.result === "valid") return true;
  if (vector.result === "invalid") return false;
  const [flag] = vector.flags;
  const answer = flag === undefined ? undefined : ACCEPTABLE_ANSWERS[flag];
  if (vector.flags.length !== 1 || answer === undefined) throw new Error(`tcId ${vector.tcId}: undecided acceptable case`);
  return answer;
}

function spkiOf(key: KeyObject): string {
  return toHex(new Uint8Array(key.export({ format: "der", type: "spki" })));
}

function publicKeyOf(group: SignatureGroup): KeyObject {
  return createPublicKey({ key: Buffer.from(fromHex(group.publicKeyDer)), format: "der", type: "spki" });
}

describe("Wycheproof signature vectors through verifyWith", () => {
  for (const suite of signatureSuites) {
    const cases = suite.vectors.testGroups.flatMap((group) => group.tests.map((vector) => ({ group, vector })));

    describe(suite.file, () => {
      it(`runs all ${suite.cases} cases, each valid, invalid or an acceptable case decided above`, () => {
        expect(cases.length).toBe(suite.cases);
        expect(suite.vectors.numberOfTests).toBe(suite.cases);
        for (const { vector } of cases) expect(typeof expectedAnswer(vector)).toBe("boolean");
      });

      it("is SHA-256 throughout (and for PSS, MGF1-SHA-256 with a 32-byte salt), the parameters verifyWith uses", () => {
        for (const group of suite.vectors.testGroups) {
          if (suite.algorithm !== "ed25519") expect(group.sha).toBe("SHA-256");
          if (suite.options.rsaPadding === "pss") {
            expect(group.mgfSha).toBe("SHA-256");
            expect(group.sLen).toBe(32);
          }
        }
      });

      it("reads each group's public key to the same key from its DER, its PEM and its JWK", () => {
        for (const group of suite.vectors.testGroups) {
          const fromDer = spkiOf(publicKeyOf(group));
          expect(fromDer).toBe(group.publicKeyDer);
          expect(spkiOf(createPublicKey(group.publicKeyPem))).toBe(fromDer);
          const jwk = group.publicKeyJwk ?? group.keyJwk;
          if (jwk !== undefined) expect(spkiOf(createPublicKey({ key: jwk, format: "jwk" }))).toBe(fromDer);
        }
      });

      for (const group of suite.vectors.testGroups) {
        const publicKey = publicKeyOf(group);
        for (const vector of group.tests) {
          const expected = expectedAnswer(vector);
          const flags = vector.flags.length > 0 ? ` [${vector.flags.join(",")}]` : "";
          it(`tcId ${vector.tcId}${flags} (${vector.result}) ${expected ? "verifies" : "does not verify"}`, () => {
            expect(
              verifyWith(suite.algorithm, publicKey, { data: fromHex(vector.msg), signature: fromHex(vector.sig) }, suite.options),
            ).toBe(expected);
          });
        }
      }
    });
  }
});

describe("Wycheproof HMAC-SHA-256 vectors through hmacSha256 and verifyHmacSha256", () => {
  const cases = hmacFile.testGroups.flatMap((group) => group.tests.map((vector) => ({ group, vector })));
  // caas's MACs are whole 256-bit tags. Wycheproof also holds 128-bit tags (the first half of the
  // MAC); verifyHmacSha256 refuses every one of them, valid or not, because accepting a shorter tag
  // would let a forger who guesses 128 bits pass. Those cases still check the MAC itself: a valid
  // truncated tag is the first half of hmacSha256's answer, an invalid one is not.
  const fullTags = cases.filter(({ group }) => group.tagSize === HMAC_BYTES * 8);
  const truncatedTags = cases.filter(({ group }) => group.tagSize < HMAC_BYTES * 8);

  it("runs all 174 cases: 87 with whole tags, 87 with 128-bit tags", () => {
    expect(hmacFile.numberOfTests).toBe(174);
    expect(cases.length).toBe(174);
    expect(fullTags.length).toBe(87);
    expect(truncatedTags.length).toBe(87);
    expect(new Set(truncatedTags.map(({ group }) => group.tagSize))).toEqual(new Set([128]));
    expect(new Set(cases.map(({ vector }) => vector.result))).toEqual(new Set(["valid", "invalid"]));
  });

  for (const { group, vector } of fullTags) {
    const label = `tcId ${vector.tcId} (${group.keySize}-bit key, ${vector.result})`;
    it(`${label}: ${vector.result === "valid" ? "is hmacSha256's answer and verifies" : "does not verify"}`, () => {
      const key = fromHex(vector.key);
      const msg = fromHex(vector.msg);
      expect(toHex(hmacSha256(key, msg)) === vector.tag).toBe(vector.result === "valid");
      expect(verifyHmacSha256(key, msg, fromHex(vector.tag))).toBe(vector.result === "valid");
    });
  }

  for (const { group, vector } of truncatedTags) {
    const label = `tcId ${vector.tcId} (${group.keySize}-bit key, ${group.tagSize}-bit tag, ${vector.result})`;
    it(`${label}: is refused as a tag, and ${vector.result === "valid" ? "is" : "is not"} the first half of the MAC`, () => {
      const key = fromHex(vector.key);
      const msg = fromHex(vector.msg);
      const tag = fromHex(vector.tag);
      expect(verifyHmacSha256(key, msg, tag)).toBe(false);
      expect(toHex(hmacSha256(key, msg).subarray(0, tag.length)) === vector.tag).toBe(vector.result === "valid");
    });
  }
});

describe("RFC 4231 HMAC-SHA-256 test cases", () => {
  const bytes = (length: number, value: number) => new Uint8Array(length).fill(value);
  const rfc4231 = [
    {
      section: "4.2",
      testCase: 1,
      key: bytes(20, 0x0b),
      data: encodeUtf8("Hi There"),
      mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    },
    {
      section: "4.3",
      testCase: 2,
      key: encodeUtf8("Jefe"),
      data: encodeUtf8("what do ya want for nothing?"),
      mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    {
      section: "4.4",
      testCase: 3,
      key: bytes(20, 0xaa),
      data: bytes(50, 0xdd),
      mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    },
    {
      section: "4.5",
      testCase: 4,
      key: Uint8Array.from({ length: 25 }, (_, index) => index + 1),
      data: bytes(50, 0xcd),
      mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    },
    // Test case 5 publishes only the first 128 bits of the MAC.
    {
      section: "4.6",
      testCase: 5,
      key: bytes(20, 0x0c),
      data: encodeUtf8("Test With Truncation"),
      mac: "a3b6167473100ee06e0c796c2955552b",
    },
    {
      section: "4.7",
      testCase: 6,
      key: bytes(131, 0xaa),
      data: encodeUtf8("Test Using Larger Than Block-Size Key - Hash Key First"),
      mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    },
    {
      section: "4.8",
      testCase: 7,
      key: bytes(131, 0xaa),
      data: encodeUtf8(
        "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    },
  ];

  it("holds test cases 1 to 7", () => {
    expect(rfc4231.map(({ testCase }) => testCase)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  for (const { section, testCase, key, data, mac } of rfc4231) {
    if (mac.length === HMAC_BYTES * 2) {
      it(`test case ${testCase} (§${section}): hmacSha256 gives its MAC, and verifyHmacSha256 takes it`, () => {
        expect(toHex(hmacSha256(key, data))).toBe(mac);
        expect(verifyHmacSha256(key, data, fromHex(mac))).toBe(true);
      });
    } else {
      it(`test case ${testCase} (§${section}): the MAC begins with its 128-bit tag, which verifyHmacSha256 refuses as too short`, () => {
        expect(toHex(hmacSha256(key, data)).slice(0, mac.length)).toBe(mac);
        expect(verifyHmacSha256(key, data, fromHex(mac))).toBe(false);
      });
    }
  }
});

describe("RFC 8037 appendix A: the Ed25519 JWS example", () => {
  // A.1: the key as a JWK; d is the RFC 8032 seed, x the public key.
  const d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
  const x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
  // A.4: the JWS signing input (header {"alg":"EdDSA"}, payload "Example of Ed25519 signing") and its signature.
  const signingInput = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const signature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
  // An Ed25519 PKCS#8 key (RFC 8410) is this fixed prefix followed by the 32-byte seed.
  const PKCS8_ED25519_PREFIX = "302e020100300506032b657004220420";
  const pkcs8 = fromHex(PKCS8_ED25519_PREFIX + toHex(Buffer.from(d, "base64url")));
  const base64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

  it("A.4's signing input is the header and payload, base64url", () => {
    expect(`${base64url('{"alg":"EdDSA"}')}.${base64url("Example of Ed25519 signing")}`).toBe(signingInput);
  });

  it("publicKeyJwk of A.1's private key is A.1's public JWK", () => {
    expect(publicKeyJwk(signingKeyFromPkcs8("ed25519", pkcs8).publicKey)).toEqual({ kty: "OKP", crv: "Ed25519", x });
  });

  it("signWith gives exactly A.4's signature (Ed25519 is deterministic), and verifyWith takes it (A.5)", () => {
    const { privateKey, publicKey } = signingKeyFromPkcs8("ed25519", pkcs8);
    expect(Buffer.from(signWith("ed25519", privateKey, encodeUtf8(signingInput))).toString("base64url")).toBe(signature);
    expect(verifyWith("ed25519", publicKey, { data: encodeUtf8(signingInput), signature: Buffer.from(signature, "base64url") })).toBe(true);
    expect(verifyWith("ed25519", publicKey, { data: encodeUtf8(`${signingInput}.`), signature: Buffer.from(signature, "base64url") })).toBe(
      false,
    );
  });
});

interface Variant {
  readonly name: string;
  readonly algorithm: SignatureAlgorithm;
  readonly options: SignatureOptions;
}

const variants: readonly Variant[] = [
  { name: "Ed25519", algorithm: "ed25519", options: {} },
  { name: "ECDSA P-256 r‖s", algorithm: "ecdsa-p256", options: { ecdsaFormat: "p1363" } },
  { name: "ECDSA P-256 DER", algorithm: "ecdsa-p256", options: { ecdsaFormat: "der" } },
  { name: "RSA-2048 PSS", algorithm: "rsa-2048", options: { rsaPadding: "pss" } },
  { name: "RSA-2048 PKCS#1 v1.5", algorithm: "rsa-2048", options: { rsaPadding: "pkcs1" } },
];

const keyPairs = new Map<SignatureAlgorithm, SigningKeyPair>();
function keyPairFor(algorithm: SignatureAlgorithm): SigningKeyPair {
  let pair = keyPairs.get(algorithm);
  if (pair === undefined) {
    pair = signingKeyFromPkcs8(algorithm, generateSigningKey(algorithm));
    keyPairs.set(algorithm, pair);
  }
  return pair;
}

type Tamper =
  | { readonly kind: "flip"; readonly index: number; readonly bit: number }
  | { readonly kind: "truncate"; readonly keep: number }
  | { readonly kind: "extend"; readonly extra: Uint8Array };

const tamperArbitrary: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), index: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

/** `bytes` changed as `tamper` says: always different from `bytes` (a flip or cut of empty bytes extends it instead). */
function tampered(bytes: Uint8Array, tamper: Tamper): Uint8Array {
  if (tamper.kind === "extend" || bytes.length === 0)
    return Uint8Array.from([...bytes, ...(tamper.kind === "extend" ? tamper.extra : [0])]);
  if (tamper.kind === "truncate") return bytes.slice(0, tamper.keep % bytes.length);
  const copy = bytes.slice();
  const index = tamper.index % copy.length;
  copy[index] = (copy[index] ?? 0) ^ (1 << tamper.bit);
  return copy;
}

describe("properties: nothing tampered verifies", () => {
  for (const { name, algorithm, options } of variants) {
    it(`${name}: a signature verifies, and no change to its data or to it does`, () => {
      const { privateKey, publicKey } = keyPairFor(algorithm);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), tamperArbitrary, fc.constantFrom("data", "signature"), (data, tamper, target) => {
          const signature = signWith(algorithm, privateKey, data, options);
          expect(verifyWith(algorithm, publicKey, { data, signature }, options)).toBe(true);
          const changedData = target === "data" ? tampered(data, tamper) : data;
          const changedSignature = target === "signature" ? tampered(signature, tamper) : signature;
          expect(verifyWith(algorithm, publicKey, { data: changedData, signature: changedSignature }, options)).toBe(false);
        }),
        { numRuns: algorithm === "rsa-2048" ? 60 : 200 },
      );
    });
  }

  it("HMAC-SHA-256: no change to the data or to the MAC verifies", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 256 }),
        tamperArbitrary,
        fc.constantFrom("data", "mac"),
        (key, data, tamper, target) => {
          const mac = hmacSha256(key, data);
          expect(verifyHmacSha256(key, data, mac)).toBe(true);
          const changedData = target === "data" ? tampered(data, tamper) : data;
          const changedMac = target === "mac" ? tampered(mac, tamper) : mac;
          expect(verifyHmacSha256(key, changedData, changedMac)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("HMAC-SHA-256: different data never has the same MAC, nor do two different 32-byte keys", () => {
    // Keys of one length only: HMAC pads a short key with zeros, so "k" and "k\0" are the same key.
    // caas's HMAC keys are always 32 bytes.
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 128 }),
        fc.uint8Array({ maxLength: 128 }),
        (key, otherKey, data, otherData) => {
          fc.pre(toHex(data) !== toHex(otherData) && toHex(key) !== toHex(otherKey));
          expect(toHex(hmacSha256(key, data))).not.toBe(toHex(hmacSha256(key, otherData)));
          expect(toHex(hmacSha256(key, data))).not.toBe(toHex(hmacSha256(otherKey, data)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** ASN.1 DER INTEGER of an unsigned big-endian number: leading zeros dropped, one added back when the high bit is set. */
function derInteger(unsigned: Uint8Array): number[] {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const value = [...unsigned.subarray(start)];
  if ((value[0] ?? 0) & 0x80) value.unshift(0);
  return [0x02, value.length, ...value];
}

/** r‖s (64 bytes) as DER SEQUENCE { INTEGER r, INTEGER s }, written here rather than by the code under test. */
function p1363ToDer(signature: Uint8Array): Uint8Array {
  const body = [...derInteger(signature.subarray(0, 32)), ...derInteger(signature.subarray(32, 64))];
  return Uint8Array.from([0x30, body.length, ...body]);
}

/** DER SEQUENCE { INTEGER r, INTEGER s } (short lengths only, as every P-256 signature has) as r‖s. */
function derToP1363(der: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  let offset = 2;
  for (const half of [0, 1]) {
    const length = der[offset + 1] ?? 0;
    const value = der.subarray(offset + 2, offset + 2 + length);
    const unsigned = value[0] === 0 ? value.subarray(1) : value;
    out.set(unsigned, half * 32 + 32 - unsigned.length);
    offset += 2 + length;
  }
  return out;
}

describe("properties: an ECDSA signature verifies in its own form only", () => {
  it("r‖s and its DER form both verify, each in its own format and not in the other", () => {
    const { privateKey, publicKey } = keyPairFor("ecdsa-p256");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom("p1363" as const, "der" as const), (data, signedAs) => {
        const signed = signWith("ecdsa-p256", privateKey, data, { ecdsaFormat: signedAs });
        const p1363 = signedAs === "p1363" ? signed : derToP1363(signed);
        const der = signedAs === "der" ? signed : p1363ToDer(signed);
        expect(p1363.length).toBe(64);
        if (signedAs === "der") expect(toHex(p1363ToDer(p1363))).toBe(toHex(signed));
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: p1363 }, { ecdsaFormat: "p1363" })).toBe(true);
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: der }, { ecdsaFormat: "der" })).toBe(true);
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: p1363 }, { ecdsaFormat: "der" })).toBe(false);
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: der }, { ecdsaFormat: "p1363" })).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

const subtle = globalThis.crypto.subtle;

interface WebCryptoVariant extends Variant {
  readonly importParams: Parameters<typeof subtle.importKey>[2];
  readonly signParams: Parameters<typeof subtle.sign>[0];
  /** Whether two signatures of the same data by the same key are the same bytes. */
  readonly deterministic: boolean;
}

const webCryptoVariants: readonly WebCryptoVariant[] = [
  { ...(variants[0] as Variant), importParams: { name: "Ed25519" }, signParams: { name: "Ed25519" }, deterministic: true },
  {
    ...(variants[1] as Variant),
    importParams: { name: "ECDSA", namedCurve: "P-256" },
    signParams: { name: "ECDSA", hash: "SHA-256" },
    deterministic: false,
  },
  {
    ...(variants[3] as Variant),
    importParams: { name: "RSA-PSS", hash: "SHA-256" },
    signParams: { name: "RSA-PSS", saltLength: 32 },
    deterministic: false,
  },
  {
    ...(variants[4] as Variant),
    importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    signParams: { name: "RSASSA-PKCS1-v1_5" },
    deterministic: true,
  },
];

describe("Web Crypto (crypto.subtle) and caas agree", () => {
  // Bun's Web Crypto is WebKit's implementation over the same BoringSSL as node:crypto: another
  // key import, parameter handling and signature encoding, not another curve arithmetic. That is
  // what @noble/curves below is for.
  for (const variant of webCryptoVariants) {
    it(`${variant.name}: Web Crypto verifies caas's signatures and caas verifies Web Crypto's`, async () => {
      const { privateKey, publicKey } = keyPairFor(variant.algorithm);
      const webPrivate = await subtle.importKey("pkcs8", privateKey.export({ format: "der", type: "pkcs8" }), variant.importParams, false, [
        "sign",
      ]);
      const webPublic = await subtle.importKey("spki", publicKey.export({ format: "der", type: "spki" }), variant.importParams, false, [
        "verify",
      ]);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (generated) => {
          const data = Uint8Array.from(generated);
          const ours = signWith(variant.algorithm, privateKey, data, variant.options);
          const theirs = new Uint8Array(await subtle.sign(variant.signParams, webPrivate, data));
          expect(await subtle.verify(variant.signParams, webPublic, Uint8Array.from(ours), data)).toBe(true);
          expect(verifyWith(variant.algorithm, publicKey, { data: data, signature: theirs }, variant.options)).toBe(true);
          if (variant.deterministic) expect(toHex(ours)).toBe(toHex(theirs));
          const changed = Uint8Array.from(tampered(ours, { kind: "flip", index: data.length, bit: 0 }));
          expect(await subtle.verify(variant.signParams, webPublic, changed, data)).toBe(false);
        }),
        { numRuns: variant.algorithm === "rsa-2048" ? 20 : 50 },
      );
    });
  }

  it("HMAC-SHA-256: hmacSha256 equals Web Crypto's HMAC for any key and data", async () => {
    await fc.assert(
      // Web Crypto refuses an empty HMAC key, so keys start at one byte.
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), async (key, data) => {
        const webKey = await subtle.importKey("raw", Uint8Array.from(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        expect(toHex(hmacSha256(key, data))).toBe(toHex(new Uint8Array(await subtle.sign("HMAC", webKey, Uint8Array.from(data)))));
      }),
      { numRuns: 200 },
    );
  });
});

describe("@noble/curves (pure TypeScript, its own arithmetic) and caas agree", () => {
  const raw = (base64url: string | undefined) => new Uint8Array(Buffer.from(base64url ?? "", "base64url"));

  it("Ed25519: noble verifies caas's signatures, caas verifies noble's, and both are the same bytes", () => {
    const { privateKey, publicKey } = keyPairFor("ed25519");
    const jwk = privateKey.export({ format: "jwk" });
    const seed = raw(jwk.d);
    const point = raw(jwk.x);
    expect(toHex(ed25519.getPublicKey(seed))).toBe(toHex(point));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
        const ours = signWith("ed25519", privateKey, data);
        const theirs = ed25519.sign(data, seed);
        expect(toHex(ours)).toBe(toHex(theirs));
        expect(ed25519.verify(ours, data, point)).toBe(true);
        expect(verifyWith("ed25519", publicKey, { data: data, signature: theirs })).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("ECDSA P-256: noble verifies caas's r‖s signatures and caas verifies noble's", () => {
    const { privateKey, publicKey } = keyPairFor("ecdsa-p256");
    const jwk = privateKey.export({ format: "jwk" });
    const scalar = raw(jwk.d);
    const point = Uint8Array.from([0x04, ...raw(jwk.x), ...raw(jwk.y)]);
    expect(toHex(p256.getPublicKey(scalar, false))).toBe(toHex(point));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
        const ours = signWith("ecdsa-p256", privateKey, data, { ecdsaFormat: "p1363" });
        const theirs = p256.sign(data, scalar);
        // BoringSSL does not normalise s to the lower half, as JWS and Web Crypto do not ask it to;
        // noble refuses a high s unless told, so it is told.
        expect(p256.verify(ours, data, point, { lowS: false })).toBe(true);
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: theirs }, { ecdsaFormat: "p1363" })).toBe(true);
        expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: p1363ToDer(theirs) }, { ecdsaFormat: "der" })).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
