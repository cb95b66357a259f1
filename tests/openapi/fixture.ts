/**
 * One caas for the OpenAPI tests: API keys with and without scopes, a secret, and a keyring key
 * "orders" whose version 1 is retired, with a ciphertext of each kind its routes open, a signing
 * key "tokens" (version 1 retired) and an HMAC key "webhooks". Both the
 * test that reaches every documented error code and the typed client that calls every route
 * use it, so what the document promises is tried against the same app.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import type { Config } from "../../src/config.ts";
import type { CredentialsHolder } from "../../src/credentials/holder.ts";
import { Keyring, KeyringKey } from "../../src/credentials/keyring.ts";
import { MacKey, SigningKey } from "../../src/credentials/signing-keys.ts";
import { generateSigningKey, signingKeyFromPkcs8 } from "../../src/crypto/signing.ts";
import { newSecretVersion } from "../../src/credentials/secret-ring.ts";
import { XaesKey } from "../../src/crypto/xaes.ts";
import type { AuditTrail } from "../../src/http/audit.ts";
import { sealText } from "../../src/modules/oracle/service.ts";
import { encryptWith } from "../../src/modules/keyring/service.ts";
import { type CaasApp, testApp, testCredentials } from "../unit/helpers.ts";

/** A key that may do everything here, including use "ghost", a keyring name the keyring does not hold. */
export const FULL_KEY = "caas_openapi-full-key-0123456789abcdef";
/** A valid key with no scope any of these routes needs. */
export const SCOPELESS_KEY = "caas_openapi-scopeless-key-0123456789ab";
export const KEY_NAME = "orders";
/** An ecdsa-p256 signing key, published, version 1 retired and 2 active; and an hmac-sha256 key. */
export const SIGNER_NAME = "tokens";
export const MAC_NAME = "webhooks";
export const UNKNOWN_KEY_NAME = "ghost";

/** Small limits, so a body too large or a batch too large is cheap to send. */
export const FIXTURE_CONFIG = { maxBody: 4096, batchMax: 2 } as const satisfies Partial<Config>;

const created = new Date().toISOString();
const ciphers = new Map([
  [1, new XaesKey(new Uint8Array(randomBytes(32)))],
  [2, new XaesKey(new Uint8Array(randomBytes(32)))],
]);
const versions = [...ciphers.keys()].map((version) => ({ version, created }));
/** As served: version 2 is the newest, version 1 below the minimum decryption version. */
const orders = new KeyringKey({ name: KEY_NAME, created, minDecryptionVersion: 2, versions }, ciphers);
/** The same key as it was before version 2: what made the retired ciphertext. */
const ordersBefore = new KeyringKey(
  { name: KEY_NAME, created, minDecryptionVersion: 1, versions: versions.slice(0, 1) },
  new Map([...ciphers].slice(0, 1)),
);

const pairs = new Map([1, 2].map((version) => [version, signingKeyFromPkcs8("ecdsa-p256", generateSigningKey("ecdsa-p256"))]));
const signer = new SigningKey({ name: SIGNER_NAME, type: "ecdsa-p256", publish: true, created, minDecryptionVersion: 2, versions }, pairs);
const signerBefore = new SigningKey(
  { name: SIGNER_NAME, type: "ecdsa-p256", created, minDecryptionVersion: 1, versions: versions.slice(0, 1) },
  new Map([...pairs].slice(0, 1)),
);
const mac = new MacKey(
  { name: MAC_NAME, type: "hmac-sha256", created, minDecryptionVersion: 1, versions: versions.slice(0, 1) },
  new Map([[1, new Uint8Array(randomBytes(32))]]),
);

/** Signatures of "order 42 shipped" by the signer: under version 2, under the retired version 1; and a MAC. */
export const SIGNATURES = {
  current: signer.sign(new TextEncoder().encode("order 42 shipped")).value,
  retired: signerBefore.sign(new TextEncoder().encode("order 42 shipped")).value,
  /** A well-formed signature naming a version above any held. */
  newer: "caas:v9:AAAA",
  hmac: mac.mac(new TextEncoder().encode("order 42 shipped")).value,
};

export const CIPHERTEXTS = {
  /** "attack at dawn" under aad "order-42", version 2. */
  current: encryptWith(orders, { data: "attack at dawn", aad: "order-42" }).ciphertext,
  retired: encryptWith(ordersBefore, { data: "attack at dawn" }).ciphertext,
  /** The byte 0xFF, which is no UTF-8 text. */
  notText: encryptWith(orders, { data: "/w==", encoding: "base64" }).ciphertext,
  /** A data key wrapped under version 2, and one under the retired version 1. */
  wrappedKey: encryptWith(orders, { data: randomBytes(32).toString("base64"), encoding: "base64" }).ciphertext,
  retiredWrappedKey: encryptWith(ordersBefore, { data: randomBytes(32).toString("base64"), encoding: "base64" }).ciphertext,
};

/** An oracle answer, and one whose plaintext is not UTF-8 (sealed here, since the oracle only seals text). */
export const SEALED = sealText("attack at dawn", "order-42");
export const SEALED_NOT_TEXT = (() => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const data = Buffer.concat([cipher.update(Uint8Array.of(0xff, 0xfe)), cipher.final()]);
  return {
    data: data.toString("base64"),
    key: key.toString("base64"),
    mac: cipher.getAuthTag().toString("base64"),
    nonce: nonce.toString("base64"),
  };
})();

export function fixtureCredentials(): CredentialsHolder {
  return testCredentials({
    apiKeys: [
      {
        name: "full",
        key: FULL_KEY,
        scopes: [
          "pseudonym",
          "oracle",
          `keyring:${KEY_NAME}`,
          `keyring:${UNKNOWN_KEY_NAME}`,
          `keyring:${SIGNER_NAME}`,
          `keyring:${MAC_NAME}`,
        ],
      },
      { name: "scopeless", key: SCOPELESS_KEY, scopes: ["keyring:elsewhere"] },
    ],
    // Version 1 retired and 2 active, so /verify can be asked for a retired version.
    secrets: [{ ...newSecretVersion(1), retired: "2025-06-01T00:00:00.000Z" }, newSecretVersion(2)],
    keyring: new Keyring([orders, signer, mac]),
  });
}

export interface FixtureOptions {
  readonly config?: Partial<Config>;
  readonly auditTrail?: AuditTrail;
  readonly isReady?: () => boolean;
}

export function fixtureApp(options: FixtureOptions = {}): CaasApp {
  return testApp({ ...options, config: { ...FIXTURE_CONFIG, ...options.config }, credentials: fixtureCredentials() });
}
