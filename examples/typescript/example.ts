/**
 * A main server's calls to caas through Eden Treaty, typed by caas's exported `App` (only its
 * types: nothing of caas runs here). One round trip per endpoint family: the oracle (opened
 * locally with WebCrypto and by caas), pseudonyms, the keyring, a data key and a JWT, signed by
 * caas under CAAS_SIGNING_KEY (a key made with --type ecdsa-p256, ed25519 or rsa-2048 and
 * --publish; default dev-jwt, development mode's) and verified here by jose against caas's JWKS. It prints what it did, never a
 * key, plaintext, ciphertext or token, and exits 1 with the reason on the first failure.
 *
 *   CAAS_URL=https://localhost:8443 CAAS_API_KEY=... CAAS_CACERT=ca.pem [CAAS_KEYRING_KEY=dev] \
 *     [CAAS_SIGNING_KEY=dev-jwt] bun run example.ts
 */
import { readFileSync } from "node:fs";
import { treaty } from "@elysiajs/eden";
import type { App } from "caas/client";
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

function trustingFetch(): typeof fetch {
  const trusted = readFileSync(required("CAAS_CACERT"), "utf8");
  // Bun's fetch takes the CA to trust per request; under Node, start it with NODE_EXTRA_CA_CERTS instead.
  return ((input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, tls: { ca: trusted } })) as typeof fetch;
}

function connect(fetcher: typeof fetch) {
  return treaty<App>(required("CAAS_URL"), { headers: { authorization: `Bearer ${required("CAAS_API_KEY")}` }, fetcher });
}

type Caas = ReturnType<typeof connect>;

interface Answer<T> {
  readonly data: T | null;
  readonly error: { readonly status: unknown; readonly value: unknown } | null;
}

/** The answer's data, or an error naming the call, the status and caas's error code (which never repeats the request). */
function expectOk<T>(what: string, answer: Answer<T>): T {
  if (answer.error !== null || answer.data === null) {
    const value = answer.error?.value;
    // Eden hands a failed fetch (refused connection, untrusted certificate) back as the error's value.
    if (value instanceof Error) throw new Error(`${what}: could not reach caas: ${value.message}`);
    const code = typeof value === "object" && value !== null && "error" in value ? (value.error as { code?: unknown }).code : undefined;
    throw new Error(`${what}: caas answered ${String(answer.error?.status)} ${String(code ?? "")}`.trimEnd());
  }
  return answer.data;
}

function check(what: string, holds: boolean): void {
  if (!holds) throw new Error(`${what}: did not hold`);
}

const bytes = (base64: string) => Uint8Array.from(Buffer.from(base64, "base64"));
const text = new TextDecoder("utf-8", { fatal: true });

async function oracle(caas: Caas): Promise<void> {
  const secret = "attack at dawn";
  const sealed = expectOk("POST /oracleinvocation", await caas.oracleinvocation.post({ data: secret }));
  if (!("key" in sealed)) throw new Error("POST /oracleinvocation: no key in the answer");
  // AES-256-GCM as WebCrypto takes it: the tag after the ciphertext.
  const key = await crypto.subtle.importKey("raw", bytes(sealed.key), "AES-GCM", false, ["decrypt"]);
  const sealedBytes = new Uint8Array([...bytes(sealed.data), ...bytes(sealed.mac)]);
  const opened = text.decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes(sealed.nonce), tagLength: 128 }, key, sealedBytes));
  check("oracle: opened locally", opened === secret);
  const reopened = expectOk("POST /oracleinvocation/decrypt", await caas.oracleinvocation.decrypt.post(sealed));
  check("oracle: opened by caas", reopened.data === secret);
  console.log(`oracle: sealed ${secret.length} characters under a ${bytes(sealed.key).length}-byte key, opened locally and by caas`);
}

async function pseudonyms(caas: Caas): Promise<void> {
  const user = { userUUID: "4dbcbcfe-4800-40a8-badf-c26b73af230c", sensitiveData: "user@example.com" };
  const made = expectOk("POST /encrypt", await caas.encrypt.post(user));
  const version = "version" in made ? `secret version ${made.version}` : "django-compat key";
  const verified = expectOk("POST /verify", await caas.verify.post({ ...user, encrypted_data: made.encrypted_data }));
  check("pseudonym: verifies", verified.match);
  const other = expectOk("POST /verify", await caas.verify.post({ ...user, sensitiveData: "other", encrypted_data: made.encrypted_data }));
  check("pseudonym: other data does not verify", !other.match);
  console.log(`pseudonym: ${made.encrypted_data.length} hex digits (${version}); verify matched it, and not other data`);
}

async function keyring(caas: Caas, keyName: string): Promise<void> {
  const key = caas.keyring({ name: keyName });
  const secret = "card 4111 1111 1111 1111";
  const sealed = expectOk(`POST /keyring/${keyName}/encrypt`, await key.encrypt.post({ data: secret, aad: "customer-7" }));
  const opened = expectOk(`POST /keyring/${keyName}/decrypt`, await key.decrypt.post({ ciphertext: sealed.ciphertext, aad: "customer-7" }));
  check("keyring: decrypts", opened.data === secret);
  console.log(`keyring ${keyName}: encrypted under version ${sealed.version} (${sealed.ciphertext.length} characters), decrypted`);

  const datakey = expectOk(`POST /keyring/${keyName}/datakey`, await key.datakey.post({}));
  if (datakey.key === undefined) throw new Error("datakey: no plaintext key in the answer");
  const unwrapped = expectOk(
    `POST /keyring/${keyName}/decrypt`,
    await key.decrypt.post({ ciphertext: datakey.wrapped_key, encoding: "base64" }),
  );
  check("datakey: unwraps to the key", unwrapped.data === datakey.key);
  console.log(`datakey: a ${bytes(datakey.key).length}-byte key, its wrapped form decrypted by caas to the same key`);
}

/** A token signed by caas, verified here by jose with the public keys caas publishes (no API key needed for them). */
async function jwtSigning(caas: Caas, fetcher: typeof fetch, keyName: string): Promise<void> {
  const claims = { sub: "user-42", aud: "caas-example" };
  const signed = expectOk(`POST /keyring/${keyName}/jwt`, await caas.keyring({ name: keyName }).jwt.post({ claims, expires_in: 300 }));
  const answer = await fetcher(new URL("/.well-known/jwks.json", required("CAAS_URL")));
  if (!answer.ok) throw new Error(`GET /.well-known/jwks.json: caas answered ${answer.status}`);
  // jose picks the key by the token's kid and holds the token to that key's own alg: "none" and HS256 never verify.
  const jwks = createLocalJWKSet((await answer.json()) as JSONWebKeySet);
  const { payload, protectedHeader } = await jwtVerify(signed.token, jwks, { audience: "caas-example" });
  check(
    "jwt: the claims are the ones sent",
    payload.sub === "user-42" && payload.exp !== undefined && payload.exp - (payload.iat ?? 0) === 300,
  );
  check("jwt: the kid is the one caas named", protectedHeader.kid === signed.kid);
  // One character of the signature changed (not the last, whose low bits base64url may ignore).
  const at = signed.token.length - 10;
  const tampered = `${signed.token.slice(0, at)}${signed.token[at] === "A" ? "B" : "A"}${signed.token.slice(at + 1)}`;
  const refused = await jwtVerify(tampered, jwks, { audience: "caas-example" }).then(
    () => false,
    (error: unknown) => error instanceof errors.JWSSignatureVerificationFailed,
  );
  check("jwt: a tampered token is refused", refused);
  console.log(
    `jwt: signed by caas as ${signed.kid} (${protectedHeader.alg}), verified by jose against the JWKS: sub ${payload.sub}, expires in ${(payload.exp ?? 0) - (payload.iat ?? 0)} s; a tampered token was refused`,
  );
}

try {
  const fetcher = trustingFetch();
  const caas = connect(fetcher);
  await oracle(caas);
  await pseudonyms(caas);
  await keyring(caas, process.env.CAAS_KEYRING_KEY || "dev");
  await jwtSigning(caas, fetcher, process.env.CAAS_SIGNING_KEY || "dev-jwt");
  console.log("all round trips passed");
} catch (error) {
  console.error(`caas example failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
