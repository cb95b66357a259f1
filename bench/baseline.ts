/**
 * The ceiling caas is measured against: a raw Bun.serve over the same TLS certificate, with none
 * of caas's work. Two modes:
 *   fixed  parses the JSON body and answers a fixed JSON object (the req/s ceiling);
 *   echo   parses the JSON body and answers it re-serialised (the 1 MiB MB/s baseline);
 *   seal   the oracle by hand: node:crypto AES-256-GCM under a fresh key (seal-webcrypto: Web Crypto);
 *   hmac   /encrypt by hand: one HMAC-SHA256 of sensitiveData under a fixed key, in hex.
 * `bun bench/baseline.ts --cert C --key K [--port 0] [--mode fixed|echo]`; prints
 * `listening <port>` on stdout once bound, and stops on SIGTERM.
 */
import { createCipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    port: { type: "string", default: "0" },
    mode: { type: "string", default: "fixed" },
  },
  strict: true,
});
if (values.cert === undefined || values.key === undefined) throw new Error("baseline: --cert and --key are required");
const mode = values.mode;
if (mode !== "fixed" && mode !== "echo" && mode !== "seal" && mode !== "seal-webcrypto" && mode !== "hmac")
  throw new Error("baseline: --mode is fixed, echo, seal, seal-webcrypto or hmac");

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

const answer: (body: unknown) => unknown =
  mode === "fixed"
    ? () => FIXED
    : mode === "echo"
      ? (body) => body
      : mode === "seal"
        ? (body) => seal((body as { data: string }).data)
        : mode === "hmac"
          ? (body) => keyedDigest((body as { sensitiveData: string }).sensitiveData)
          : (body) => sealWithWebCrypto((body as { data: string }).data);

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  maxRequestBodySize: 64 * 1024 * 1024,
  tls: { cert: readFileSync(values.cert, "utf8"), key: readFileSync(values.key, "utf8") },
  async fetch(request) {
    const body: unknown = await request.json();
    return Response.json(await answer(body));
  },
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
