/**
 * Micro-benchmarks (mitata) for the pieces of the oracle's hot path, one process, no HTTP:
 * AES-GCM seal with Web Crypto against node:crypto at 64 B, 1 KiB and 1 MiB; base64 with
 * Uint8Array.prototype.toBase64 against Buffer; the JSON body paths; key and nonce generation;
 * signing and MACs (src/crypto/signing.ts, node:crypto) against Web Crypto and @noble/curves.
 * `bun run bench:micro` (add `-- --filter REGEX` to run only the benchmarks whose name matches).
 * Not part of `bun test`; the load benchmark (bench/load.ts) is what decides, these explain.
 */
import { createCipheriv, createPublicKey, type KeyObject, randomBytes, randomFillSync } from "node:crypto";
import { parseArgs } from "node:util";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { equalBytes } from "@noble/curves/utils.js";
import { bench, do_not_optimize, group, run, summary } from "mitata";
import {
  generateSigningKey,
  hmacSha256,
  type SignatureAlgorithm,
  signingKeyFromPkcs8,
  signWith,
  verifyHmacSha256,
  verifyWith,
} from "../src/crypto/signing.ts";
import * as webAead from "../src/crypto/aead.ts";
import * as nodeAead from "../src/crypto/aead-node.ts";
import { decodeUtf8 } from "../src/crypto/encoding.ts";
import { sha256TextHex } from "../src/crypto/hash.ts";
import { createApp } from "../src/app.ts";
import { ApiKeyStore, generateApiKey } from "../src/credentials/api-keys.ts";
import { defaultConfig } from "../src/config.ts";
import { CredentialsHolder } from "../src/credentials/holder.ts";
import { SECURITY_HEADERS } from "../src/http/headers.ts";
import { instrument } from "../src/server/instrument.ts";
import { isJsonMediaType, jsonBodyParser, parseJsonBytes } from "../src/http/json-body.ts";
import { silentLogger } from "../src/log.ts";
import { Metrics } from "../src/http/metrics.ts";
import { SealedBatch, SealedText } from "../src/modules/oracle/model.ts";
import { sealText } from "../src/modules/oracle/service.ts";
import { answerEach } from "../src/http/batch.ts";
import { makeSecretRing, newSecretVersion } from "../src/credentials/secret-ring.ts";
import { KeyringKey } from "../src/credentials/keyring.ts";
import { randomXaesNonce, XaesKey } from "../src/crypto/xaes.ts";
import { PseudonymMemo, pseudonymFor } from "../src/modules/pseudonym/profiles/standard.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { filter: { type: "string" } }, strict: true });

const SIZES = [
  ["64 B", 64],
  ["1 KiB", 1024],
  ["1 MiB", 1024 * 1024],
] as const;

for (const [label, size] of SIZES) {
  const plaintext = new Uint8Array(size).fill(0x61);
  group(`AES-256-GCM seal, fresh key, ${label}`, () => {
    summary(() => {
      bench("Web Crypto (aead.ts)", async () => do_not_optimize(await webAead.sealWithFreshKey(plaintext)));
      bench("node:crypto (aead-node.ts), sync", () => do_not_optimize(nodeAead.sealWithFreshKeySync(plaintext)));
    });
  });
}

// The keyring's cipher against the oracle's: XAES-256-GCM derives a per-message AES key (one
// 32-byte ECB call) before the same GCM seal; the keyring seal adds the framing and the string.
for (const [label, size] of SIZES.slice(0, 2)) {
  const plaintext = new Uint8Array(size).fill(0x61);
  const key = crypto.getRandomValues(new Uint8Array(32));
  const xaes = new XaesKey(key);
  const keyringKey = new KeyringKey(
    {
      name: "bench",
      created: new Date().toISOString(),
      minDecryptionVersion: 1,
      versions: [{ version: 1, created: new Date().toISOString() }],
    },
    new Map([[1, xaes]]),
  );
  group(`XAES-256-GCM seal vs AES-256-GCM seal, ${label}`, () => {
    summary(() => {
      bench("AES-256-GCM, fixed key, random 96-bit nonce (node:crypto)", () => {
        const nonce = crypto.getRandomValues(new Uint8Array(12));
        const cipher = createCipheriv("aes-256-gcm", key, nonce);
        const body = cipher.update(plaintext);
        cipher.final();
        do_not_optimize([body, cipher.getAuthTag()]);
      });
      bench("AES-256-GCM, fresh key (the oracle, aead-node.ts)", () => do_not_optimize(nodeAead.sealWithFreshKeySync(plaintext)));
      bench("XAES-256-GCM, cached XaesKey, random 192-bit nonce (xaes.ts)", () => do_not_optimize(xaes.seal(randomXaesNonce(), plaintext)));
      bench("XAES-256-GCM, a new XaesKey per call (no cache)", () => do_not_optimize(new XaesKey(key).seal(randomXaesNonce(), plaintext)));
      bench("keyring seal: XAES + framed aad + caas:v1: string (keyring.ts)", () => do_not_optimize(keyringKey.seal(plaintext)));
    });
  });
}

group("AES-256-GCM open, 64 B", () => {
  const box = nodeAead.sealWithFreshKeySync(new Uint8Array(64).fill(0x61));
  summary(() => {
    bench("Web Crypto (aead.ts)", async () => do_not_optimize(await webAead.open(box)));
    bench("node:crypto (aead-node.ts), sync", () => do_not_optimize(nodeAead.openSync(box)));
  });
});

for (const [label, size] of [
  ["16 B", 16],
  ["64 B", 64],
  ["1 MiB", 1024 * 1024],
] as const) {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
  const input = size > 65536 ? new Uint8Array(size).fill(7) : bytes;
  const buffer = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  group(`base64 encode, ${label}`, () => {
    summary(() => {
      bench("Uint8Array.prototype.toBase64", () => do_not_optimize(input.toBase64()));
      bench("Buffer#toString('base64')", () => do_not_optimize(buffer.toString("base64")));
      bench("Buffer.from(u8).toString('base64')", () =>
        do_not_optimize(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("base64")),
      );
    });
  });
}

for (const [label, size] of [
  ["64 B", 64],
  ["1 MiB", 1024 * 1024 - 11],
] as const) {
  const text = JSON.stringify({ data: "a".repeat(size) });
  const bytes = new TextEncoder().encode(text);
  const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  group(`JSON body to value, ${label}`, () => {
    summary(() => {
      bench("strict: fatal TextDecoder + JSON.parse (json-body.ts)", () => do_not_optimize(JSON.parse(decodeUtf8(bytes))));
      bench("fatal TextDecoder (own instance) + JSON.parse", () => do_not_optimize(JSON.parse(fatal.decode(bytes))));
      bench("Buffer#toString + JSON.parse (not strict)", () =>
        do_not_optimize(JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"))),
      );
      bench("Response#json (what Bun.serve's request.json() does; not strict)", async () =>
        do_not_optimize(await new Response(bytes).json()),
      );
    });
  });
}

group("strict body reader, 64 B body, in process", () => {
  const body = JSON.stringify({ data: "a".repeat(64) });
  const request = () =>
    new Request("https://127.0.0.1:8443/oracleinvocation/", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length) },
      body,
    });
  /** The shape json-body.ts had before (commit 770f7f8): an async helper awaiting arrayBuffer(), then a copy into a Uint8Array. */
  const readBoundedBefore = async (r: Request, limit: number): Promise<Uint8Array> => {
    const declared = r.headers.get("content-length");
    if (declared !== null && Number(declared) > limit) throw new Error("too large");
    return new Uint8Array(await r.arrayBuffer());
  };
  const readBefore = async (r: Request): Promise<unknown> => {
    if (!isJsonMediaType(r.headers.get("content-type"))) throw new Error("media type");
    return parseJsonBytes(await readBoundedBefore(r, 1 << 20));
  };
  const readNow = jsonBodyParser(1 << 20);
  for (let i = 0; i < 5_000; i++) void readBefore(request()).then(() => readNow({ request: request() }));
  summary(() => {
    bench("request.json() (not strict)", async () => do_not_optimize(await request().json()));
    bench("json-body.ts before: async helper, arrayBuffer(), copy", async () => do_not_optimize(await readBefore(request())));
    bench("json-body.ts now: one await on request.bytes()", async () => do_not_optimize(await readNow({ request: request() })));
  });
});

group("key and nonce, 44 bytes", () => {
  summary(() => {
    bench("one crypto.getRandomValues(44)", () => do_not_optimize(crypto.getRandomValues(new Uint8Array(44))));
    bench("two crypto.getRandomValues (32 + 12)", () => {
      do_not_optimize(crypto.getRandomValues(new Uint8Array(32)));
      do_not_optimize(crypto.getRandomValues(new Uint8Array(12)));
    });
    bench("node:crypto randomBytes(44)", () => do_not_optimize(randomBytes(44)));
    bench("node:crypto randomFillSync(44)", () => do_not_optimize(randomFillSync(new Uint8Array(44))));
  });
});

group("fresh key + seal + base64, 64 B: where the small allocations go", () => {
  const plaintext = new Uint8Array(64).fill(0x61);
  const sealed = (key: Uint8Array, nonce: Uint8Array) => {
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    const data = cipher.update(plaintext);
    cipher.final();
    return [data, cipher.getAuthTag()] as const;
  };
  summary(() => {
    bench("one 44-byte draw split with subarray, views over the Buffers", () => {
      const material = crypto.getRandomValues(new Uint8Array(44));
      const [data, tag] = sealed(material.subarray(0, 32), material.subarray(32));
      const view = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      do_not_optimize([view(data).toBase64(), view(tag).toBase64(), material.subarray(0, 32).toBase64(), material.subarray(32).toBase64()]);
    });
    bench("two draws (32 + 12), Buffers used as they are (aead-node.ts)", () => {
      const key = crypto.getRandomValues(new Uint8Array(32));
      const nonce = crypto.getRandomValues(new Uint8Array(12));
      const [data, tag] = sealed(key, nonce);
      do_not_optimize([data.toBase64(), tag.toBase64(), key.toBase64(), nonce.toBase64()]);
    });
  });
});

group("an oracle answer as a Response, with and without the contract's headers", () => {
  const answer = { data: "x".repeat(88), key: "k".repeat(44), mac: "m".repeat(24), nonce: "n".repeat(16) };
  const headers = { ...SECURITY_HEADERS };
  const prebuilt = new Headers({ ...SECURITY_HEADERS, "content-type": "application/json" });
  summary(() => {
    bench("Response.json(answer)", () => do_not_optimize(Response.json(answer)));
    bench("Response.json(answer, { headers: 3 security headers })  (what Elysia's set.headers does)", () =>
      do_not_optimize(Response.json(answer, { headers })),
    );
    bench("Response.json(answer, { headers: a prebuilt Headers })", () => do_not_optimize(Response.json(answer, { headers: prebuilt })));
  });
});

group("response validation of our own output (TypeBox, compiled once as Elysia does)", () => {
  const single = TypeCompiler.Compile(SealedText);
  const batch = TypeCompiler.Compile(SealedBatch);
  const items = Array.from({ length: 100 }, () => ({ data: "a".repeat(64) }));
  const sealBatch = () => answerEach(items, (item) => sealText(item.data));
  const sealed = sealBatch();
  const one = sealed[0]!;
  summary(() => {
    bench("check one SealedText", () => do_not_optimize(single.Check(one)));
    bench("check a 100-item SealedBatch", () => do_not_optimize(batch.Check({ results: sealed })));
    bench("seal a 100-item batch (answerEach over sealText)", () => do_not_optimize(sealBatch()));
  });
});

group("oracle service: sealText, 64 B of text (what a request does below HTTP)", () => {
  const text = "a".repeat(64);
  bench("sealText", () => do_not_optimize(sealText(text)));
});

/**
 * What each layer of the caas stack adds per request, in process (app.fetch on a Request, no
 * TLS, no sockets): a floor for the load benchmark's numbers, where each of these also pays for
 * the memory it makes the collector chase, and the machine's noise.
 */
group("per-request cost by layer, in process, 64 B seal", () => {
  const config = defaultConfig();
  const metrics = new Metrics();
  const app = createApp(config, {
    logger: silentLogger,
    metrics,
    credentials: new CredentialsHolder({ apiKeys: ApiKeyStore.empty(), secrets: makeSecretRing([newSecretVersion(1)]) }),
  });
  const body = JSON.stringify({ data: "a".repeat(64) });
  const request = () =>
    new Request("https://127.0.0.1:8443/oracleinvocation/", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length) },
      body,
    });
  const parse = jsonBodyParser(config.maxBody);
  const fixed = { data: "x".repeat(88), key: "k".repeat(44), mac: "m".repeat(24), nonce: "n".repeat(16) };
  const handlers: Record<string, (request: Request) => Response | Promise<Response>> = {
    "ceiling: request.json(), fixed answer": async (r) => {
      await r.json();
      return Response.json(fixed);
    },
    "hand-written: request.json(), sealText, Response.json": async (r) =>
      Response.json(await sealText(((await r.json()) as { data: string }).data)),
    "+ strict body reader (json-body.ts)": async (r) =>
      Response.json(await sealText(((await parse({ request: r })) as { data: string }).data)),
    "+ security headers and a request id": async (r) =>
      Response.json(await sealText(((await parse({ request: r })) as { data: string }).data), {
        headers: { ...SECURITY_HEADERS, "x-request-id": crypto.randomUUID() },
      }),
    "caas app (Elysia: routing, schema, response check, headers)": app.fetch,
    "caas app + instrument.ts (metrics, request id)": instrument(app.fetch, { metrics, logger: silentLogger }),
  };
  // Warm every path first, so the first benchmark does not pay for the JIT of code they share.
  for (const handle of Object.values(handlers)) for (let i = 0; i < 2_000; i++) void handle(request());
  summary(() => {
    for (const [name, handle] of Object.entries(handlers)) {
      bench(name, async () => do_not_optimize(await (await handle(request())).arrayBuffer()));
    }
  });
});

group("a pseudonym, 64 B: a returning user against a new one (PseudonymMemo)", () => {
  const ring = makeSecretRing([newSecretVersion(1)]);
  const text = "a".repeat(64);
  const returning = crypto.randomUUID();
  const kept = new PseudonymMemo(16_384);
  const spread = Array.from({ length: 10_000 }, () => crypto.randomUUID());
  const warm = new PseudonymMemo(16_384);
  for (const id of spread) pseudonymFor(ring, id, text, warm);
  // A memo of one user, fed a different user each call: every call derives afresh.
  const cold = new PseudonymMemo(1);
  let next = 0;
  const nextUser = () => {
    next = (next + 1) % spread.length;
    return spread[next]!;
  };
  summary(() => {
    bench("one returning user", () => do_not_optimize(pseudonymFor(ring, returning, text, kept)));
    // The memo's eviction must not make a hit cost more as the memo fills (see userMaterial).
    bench("one returning user, 10,000 others held", () => do_not_optimize(pseudonymFor(ring, returning, text, warm)));
    bench("10,000 users in turn, all held", () => do_not_optimize(pseudonymFor(ring, nextUser(), text, warm)));
    bench("a new user every call (pick, HKDF, keying, HMAC)", () => do_not_optimize(pseudonymFor(ring, nextUser(), text, cold)));
  });
});

// Signing: why node:crypto's KeyObjects are on the hot path. Each key made once, as the keyring
// holds it; 64 bytes of data; the same key imported into Web Crypto and, where it signs that
// curve, @noble/curves (pure TypeScript).
const message = new Uint8Array(64).fill(0x61);
const messageBuffer = Uint8Array.from(message);
async function webCryptoSigner(
  algorithm: SignatureAlgorithm,
  importParams: Parameters<typeof crypto.subtle.importKey>[2],
  signParams: Parameters<typeof crypto.subtle.sign>[0],
) {
  const { privateKey } = signingKeyFromPkcs8(algorithm, generateSigningKey(algorithm));
  const webKey = await crypto.subtle.importKey("pkcs8", privateKey.export({ format: "der", type: "pkcs8" }), importParams, false, ["sign"]);
  return async () => do_not_optimize(await crypto.subtle.sign(signParams, webKey, messageBuffer));
}
const rawPrivate = (algorithm: SignatureAlgorithm) => {
  const { privateKey } = signingKeyFromPkcs8(algorithm, generateSigningKey(algorithm));
  return { privateKey, d: new Uint8Array(Buffer.from(privateKey.export({ format: "jwk" }).d ?? "", "base64url")) };
};
const ed = rawPrivate("ed25519");
const ec = rawPrivate("ecdsa-p256");
const rsa = signingKeyFromPkcs8("rsa-2048", generateSigningKey("rsa-2048"));
const webEd25519 = await webCryptoSigner("ed25519", { name: "Ed25519" }, { name: "Ed25519" });
const webP256 = await webCryptoSigner("ecdsa-p256", { name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" });
const webPss = await webCryptoSigner("rsa-2048", { name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 });
const webPkcs1 = await webCryptoSigner("rsa-2048", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" });
const hmacKey = crypto.getRandomValues(new Uint8Array(32));
const webHmacKey = await crypto.subtle.importKey("raw", hmacKey, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

group("Ed25519 sign, 64 B", () => {
  summary(() => {
    bench("node:crypto KeyObject (signing.ts), sync", () => do_not_optimize(signWith("ed25519", ed.privateKey, message)));
    bench("Web Crypto", webEd25519);
    bench("@noble/curves", () => do_not_optimize(ed25519.sign(message, ed.d)));
  });
});

group("ECDSA P-256 sign, SHA-256, r‖s, 64 B", () => {
  summary(() => {
    bench("node:crypto KeyObject (signing.ts), sync", () => do_not_optimize(signWith("ecdsa-p256", ec.privateKey, message)));
    bench("Web Crypto", webP256);
    bench("@noble/curves", () => do_not_optimize(p256.sign(message, ec.d)));
  });
});

group("RSA-2048 sign, SHA-256, 64 B", () => {
  summary(() => {
    bench("node:crypto PSS (signing.ts), sync", () => do_not_optimize(signWith("rsa-2048", rsa.privateKey, message)));
    bench("node:crypto PKCS#1 v1.5 (signing.ts), sync", () =>
      do_not_optimize(signWith("rsa-2048", rsa.privateKey, message, { rsaPadding: "pkcs1" })),
    );
    bench("Web Crypto PSS", webPss);
    bench("Web Crypto PKCS#1 v1.5", webPkcs1);
  });
});

group("HMAC-SHA-256, 64 B", () => {
  summary(() => {
    bench("node:crypto (signing.ts), sync", () => do_not_optimize(hmacSha256(hmacKey, message)));
    bench("Web Crypto", async () => do_not_optimize(await crypto.subtle.sign("HMAC", webHmacKey, messageBuffer)));
    bench("@noble/hashes", () => do_not_optimize(hmac(sha256, hmacKey, message)));
  });
});

// Verifying: what jwt/verify and verify cost, the same three ways. Each checks once, before it
// is timed, that it accepts the signature: a verifier that refused everything would be fast.
const verifiers = async (algorithm: "ed25519" | "ecdsa-p256", key: { privateKey: KeyObject; d: Uint8Array }) => {
  // A copy over its own ArrayBuffer, as Web Crypto's BufferSource type wants.
  const signature = Uint8Array.from(signWith(algorithm, key.privateKey, message));
  const publicKey = createPublicKey(key.privateKey);
  const webParams = algorithm === "ed25519" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
  const webVerifyParams = algorithm === "ed25519" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
  const webKey = await crypto.subtle.importKey("spki", publicKey.export({ format: "der", type: "spki" }), webParams, false, ["verify"]);
  const curve = algorithm === "ed25519" ? ed25519 : p256;
  const noblePublic = curve.getPublicKey(key.d);
  const node = () => verifyWith(algorithm, publicKey, { data: message, signature: signature });
  const web = () => crypto.subtle.verify(webVerifyParams, webKey, signature, messageBuffer);
  const noble = () => curve.verify(signature, message, noblePublic);
  if (!node() || !(await web()) || !noble()) throw new Error(`micro: a ${algorithm} verifier refused a good signature`);
  return { node, web, noble };
};
const edVerify = await verifiers("ed25519", ed);
const ecVerify = await verifiers("ecdsa-p256", ec);
const mac = Uint8Array.from(hmacSha256(hmacKey, message));
const webHmacVerifyKey = await crypto.subtle.importKey("raw", hmacKey, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);

for (const [name, verify] of [
  ["Ed25519 verify, 64 B", edVerify],
  ["ECDSA P-256 verify, SHA-256, r‖s, 64 B", ecVerify],
] as const) {
  group(name, () => {
    summary(() => {
      bench("node:crypto KeyObject (signing.ts), sync", () => do_not_optimize(verify.node()));
      bench("Web Crypto", async () => do_not_optimize(await verify.web()));
      bench("@noble/curves", () => do_not_optimize(verify.noble()));
    });
  });
}

group("HMAC-SHA-256 verify, 64 B", () => {
  summary(() => {
    bench("node:crypto + timingSafeEqual (signing.ts), sync", () => do_not_optimize(verifyHmacSha256(hmacKey, message, mac)));
    bench("Web Crypto", async () => do_not_optimize(await crypto.subtle.verify("HMAC", webHmacVerifyKey, mac, messageBuffer)));
    bench("@noble/hashes + equalBytes", () => do_not_optimize(equalBytes(hmac(sha256, hmacKey, message), mac)));
  });
});

group("API key lookup: SHA-256 of a 48-character key, then a Map", () => {
  const presented = generateApiKey();
  const store = ApiKeyStore.fromKeys([{ name: "bench", key: presented }]);
  summary(() => {
    bench("API key hash: TextEncoder + CryptoHasher, hex", () =>
      do_not_optimize(new Bun.CryptoHasher("sha256").update(new TextEncoder().encode(presented)).digest("hex")),
    );
    bench("API key hash: Bun.SHA256.hash on the string (sha256TextHex, hash.ts)", () => do_not_optimize(sha256TextHex(presented)));
    bench("API key lookup: ApiKeyStore.lookup, the whole of it", () => do_not_optimize(store.lookup(presented)));
  });
});

group("a returning user's pseudonym, 64 B, against the hand-written server's HMAC", () => {
  const secrets = makeSecretRing([newSecretVersion(1)]);
  const memo = new PseudonymMemo(16_384);
  const users = Array.from({ length: 64 }, () => crypto.randomUUID());
  const text = "a".repeat(64);
  const fixedKey = new Uint8Array(32).fill(7);
  let next = 0;
  summary(() => {
    bench("HMAC-SHA256 under a fixed key, hex (the hand-written server)", () =>
      do_not_optimize(new Bun.CryptoHasher("sha256", fixedKey).update(text).digest("hex")),
    );
    bench("pseudonymFor, 64 users held in the memo (standard.ts)", () =>
      do_not_optimize(pseudonymFor(secrets, users[next++ % users.length] ?? "", text, memo)),
    );
  });
});

await run({ colors: process.stdout.isTTY === true, ...(values.filter === undefined ? {} : { filter: new RegExp(values.filter, "i") }) });
