/**
 * The ceiling caas is measured against: a raw Bun.serve over the same TLS certificate, with none
 * of caas's work. Two modes:
 *   fixed  parses the JSON body and answers a fixed JSON object (the req/s ceiling);
 *   echo   parses the JSON body and answers it re-serialised (the 1 MiB MB/s baseline);
 *   seal   the oracle by hand: node:crypto AES-256-GCM under a fresh key (seal-webcrypto: Web Crypto);
 *   hmac   /encrypt by hand: one HMAC-SHA256 of sensitiveData under a fixed key, in hex;
 *   sign-ed25519, sign-es256, sign-rs256, hmac-sha256
 *          /keyring/{name}/sign and /hmac by hand: the node:crypto call caas makes (src/crypto/signing.ts)
 *          under one key made at start, for `{"data"}` or, for the batch form, each of `{"items":[{"data"}]}`.
 * `--deferred` lets each answer go at the end of its event-loop turn.
 * `bun bench/baseline.ts --cert C --key K [--port 0] [--mode fixed|echo|…] [--deferred]`; prints
 * `listening <port>` on stdout once bound, and stops on SIGTERM.
 */
import { createCipheriv, createHmac, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    port: { type: "string", default: "0" },
    mode: { type: "string", default: "fixed" },
    // Each answer let go at the end of its event-loop turn (setImmediate), as an answer that waits for its audit line is.
    deferred: { type: "boolean", default: false },
  },
  strict: true,
});
if (values.cert === undefined || values.key === undefined) throw new Error("baseline: --cert and --key are required");
const MODES = ["fixed", "echo", "seal", "seal-webcrypto", "hmac", "sign-ed25519", "sign-es256", "sign-rs256", "hmac-sha256"] as const;
type Mode = (typeof MODES)[number];
const isMode = (text: string | undefined): text is Mode => MODES.some((mode) => mode === text);
const mode = values.mode;
if (!isMode(mode)) throw new Error(`baseline: --mode is one of ${MODES.join(", ")}`);

// The same shape and size as an oracle answer for 64 bytes of text.
const FIXED = {
  data: "nLi3q2CesYAvJ5jmT1wnLi3q2CesYAvJ5jmT1wnLi3q2CesYAvJ5jmT1wnLi3q2CesYAvJ5jmT1wnLi3q2Ce=",
  key: "+Epdw8Ixzky6CMGqzpKGXso94oJ5j4uJHuryppVUJng=",
  mac: "LN26SlLcsg7IPLZK27IhkA==",
  nonce: "QFkldcX0l8uRKYAH",
};
const encoder = new TextEncoder();

function seal(text: string) {
  const material = crypto.getRandomValues(new Uint8Array(44));
  const key = material.subarray(0, 32);
  const nonce = material.subarray(32);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const data = cipher.update(encoder.encode(text));
  cipher.final();
  return { data: data.toBase64(), key: key.toBase64(), mac: cipher.getAuthTag().toBase64(), nonce: nonce.toBase64() };
}

/** The same seal through Web Crypto: what the oracle would cost on the portable API (docs/benchmarks.md). */
async function sealWithWebCrypto(text: string) {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const cryptoKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, cryptoKey, encoder.encode(text)));
  return {
    data: sealed.subarray(0, sealed.length - 16).toBase64(),
    key: key.toBase64(),
    mac: sealed.subarray(sealed.length - 16).toBase64(),
    nonce: nonce.toBase64(),
  };
}

// BENCH FIXTURE, not a secret: the hand-written /encrypt's one fixed HMAC key.
const HMAC_KEY = new Uint8Array(32).fill(7);

/** What a server doing only the pseudonym's last step would answer: one keyed HMAC-SHA256. */
function keyedDigest(data: string) {
  return { encrypted_data: new Bun.CryptoHasher("sha256", HMAC_KEY).update(data).digest("hex") };
}

/**
 * One signature or MAC of `data` as caas's keyring answers it (`caas:v1:<base64>`), by the same
 * node:crypto call src/crypto/signing.ts makes: Ed25519, ECDSA P-256 r‖s, RSA-2048 PKCS#1 v1.5
 * (RS256), HMAC-SHA-256 under a 32-byte key.
 */
function signer(kind: "sign-ed25519" | "sign-es256" | "sign-rs256" | "hmac-sha256"): (data: string) => unknown {
  if (kind === "hmac-sha256") {
    const key = crypto.getRandomValues(new Uint8Array(32));
    return (data) => ({ hmac: `caas:v1:${createHmac("sha256", key).update(data).digest().toBase64()}`, version: 1 });
  }
  const { privateKey } =
    kind === "sign-ed25519"
      ? generateKeyPairSync("ed25519")
      : kind === "sign-es256"
        ? generateKeyPairSync("ec", { namedCurve: "P-256" })
        : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key = kind === "sign-es256" ? { key: privateKey, dsaEncoding: "ieee-p1363" as const } : privateKey;
  const digest = kind === "sign-ed25519" ? null : "sha256";
  return (data) => ({ signature: `caas:v1:${sign(digest, Buffer.from(data), key).toBase64()}`, version: 1 });
}

/** A single item `{"data"}` answered by `one`, or a batch `{"items":[{"data"}]}` answered item by item as `{"results"}`, as caas does. */
function singleOrBatch(one: (data: string) => unknown): (body: unknown) => unknown {
  return (body) => {
    const { data, items } = body as { data?: string; items?: { data: string }[] };
    return items === undefined ? one(data ?? "") : { results: items.map((item) => one(item.data)) };
  };
}

const answer: (body: unknown) => unknown =
  mode === "fixed"
    ? () => FIXED
    : mode === "echo"
      ? (body) => body
      : mode === "seal"
        ? (body) => seal((body as { data: string }).data)
        : mode === "hmac"
          ? (body) => keyedDigest((body as { sensitiveData: string }).sensitiveData)
          : mode === "seal-webcrypto"
            ? (body) => sealWithWebCrypto((body as { data: string }).data)
            : singleOrBatch(signer(mode));

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  maxRequestBodySize: 64 * 1024 * 1024,
  tls: { cert: readFileSync(values.cert, "utf8"), key: readFileSync(values.key, "utf8") },
  async fetch(request) {
    const body: unknown = await request.json();
    const response = Response.json(await answer(body));
    if (values.deferred) await new Promise((resolve) => setImmediate(resolve));
    return response;
  },
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
