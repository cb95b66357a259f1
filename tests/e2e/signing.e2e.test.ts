/**
 * The keyring's signing and MAC keys proven from outside, against dist/caas over TLS: JWTs of
 * every key type verified by jose against caas's JWKS URL and by PyJWT (with `cryptography`)
 * against the PEM caas exports; signatures over bytes verified by `openssl` and by
 * @noble/curves; a staged version published before it signs, and a verifier holding the JWKS
 * fetched before the promotion verifying what the promoted version signs; every route refused
 * alike for every missing scope, then for every operation a type does not do; every way a token
 * can be wrong answered with its reason; the audit trail's lines and what never reaches them;
 * the key-use counters.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHmac } from "node:crypto";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JSONWebKeySet, jwtVerify } from "jose";
import { parseMetricsPage } from "../metrics-page.ts";
import { cli, makeTestPki, type RunningCaas, reloadAndWait, startCaas, tempDir } from "./harness.ts";

const pki = makeTestPki();
const PYTHON = "/usr/bin/python3";
const hasPyJwt = existsSync(PYTHON) && Bun.spawnSync([PYTHON, "-c", "import jwt, cryptography"]).exitCode === 0;
if (!hasPyJwt) console.warn("signing.e2e: skipping the PyJWT checks: install python3-jwt and python3-cryptography (Debian)");

/** The signing keys' names and the JWS alg caas signs their JWTs with. */
const SIGNING = { ed: "EdDSA", es: "ES256", rs: "RS256" } as const;
/** One key of each type, then a second of each JWT type (a token from another key; ed2 unpublished), and keys of their own for rotation and audit. */
const KEYS: readonly { readonly name: string; readonly type: string; readonly publish: boolean }[] = [
  { name: "ed", type: "ed25519", publish: true },
  { name: "es", type: "ecdsa-p256", publish: true },
  { name: "rs", type: "rsa-2048", publish: true },
  { name: "hs", type: "hmac-sha256", publish: false },
  { name: "xa", type: "xaes-256-gcm", publish: false },
  { name: "ed2", type: "ed25519", publish: false },
  { name: "es2", type: "ecdsa-p256", publish: true },
  { name: "rs2", type: "rsa-2048", publish: true },
  { name: "hs2", type: "hmac-sha256", publish: false },
  { name: "sessions", type: "ecdsa-p256", publish: true },
  { name: "audited", type: "ed25519", publish: true },
  { name: "macs", type: "hmac-sha256", publish: false },
];
/** A name every whole-key scope covers that the keyring lacks: its 403s must match a present key's. */
const ABSENT = "ghost";
const ALL_NAMES = [...KEYS.map((key) => key.name), ABSENT];

let dir: string;
let files: { readonly rootKey: string; readonly keyring: string; readonly apiKeys: string; readonly audit: string };
let server: RunningCaas;
/** API keys by what they may do. */
const apiKey: Record<"admin" | "signer" | "verifier" | "other" | "bare", string> = {
  admin: "",
  signer: "",
  verifier: "",
  other: "",
  bare: "",
};

function run(args: readonly string[]): string {
  const result = cli(args, { cwd: dir });
  if (result.code !== 0) throw new Error(`caas ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

function keyring(...args: string[]): string {
  return run(["keyring", ...args, "--file", files.keyring, "--root-key", files.rootKey]);
}

function addKey(label: keyof typeof apiKey, scopes: readonly string[]): void {
  const out = run(["keys", "add", label, "--file", files.apiKeys, ...scopes.flatMap((scope) => ["--scope", scope])]);
  apiKey[label] = out.trimEnd().split("\n").at(-1) ?? "";
}

/** The files an instance serves; reloads come from SIGHUP alone, so each step of a rotation is applied when the test says. */
function serverEnvironment(): Record<string, string> {
  return {
    CAAS_KEYRING_FILE: files.keyring,
    CAAS_ROOT_KEY_FILE: files.rootKey,
    CAAS_API_KEYS_FILE: files.apiKeys,
    CAAS_RELOAD_ON_CHANGE: "false",
  };
}

beforeAll(async () => {
  dir = tempDir("caas-signing-e2e-");
  chmodSync(dir, 0o700);
  files = {
    rootKey: join(dir, "root-key"),
    keyring: join(dir, "keyring.json"),
    apiKeys: join(dir, "api-keys.json"),
    audit: join(dir, "audit.log"),
  };
  run(["root-key", "init", files.rootKey]);
  for (const key of KEYS) keyring("create", key.name, "--type", key.type, ...(key.publish ? ["--publish"] : []));
  addKey(
    "admin",
    ALL_NAMES.map((name) => `keyring:${name}`),
  );
  addKey(
    "signer",
    ALL_NAMES.map((name) => `keyring:${name}:sign`),
  );
  addKey(
    "verifier",
    ALL_NAMES.map((name) => `keyring:${name}:verify`),
  );
  addKey("other", ["keyring:invoices"]);
  addKey("bare", []);
  server = await startCaas({
    pki,
    cwd: dir,
    env: {
      ...serverEnvironment(),
      CAAS_AUDIT_LOG: files.audit,
      // Every line the server can write, so that the canaries are looked for in all of them.
      CAAS_LOG_LEVEL: "debug",
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function call(path: string, body?: unknown, key?: string): Promise<Answer> {
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  const answer = body === undefined ? await server.request(path, { headers }) : await server.post(path, body, headers);
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

/** The answer's body, failing the test with the answer when its status is not 200. */
async function ok<T = Record<string, unknown>>(path: string, body?: unknown, key: string = apiKey.admin): Promise<T> {
  const answer = await call(path, body, key);
  if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as T;
}

function codeOf(answer: Answer): string | undefined {
  return (answer.body.error as { code?: string } | undefined)?.code;
}

async function reload(): Promise<void> {
  await reloadAndWait(server);
  expect(server.output()).not.toContain('"event":"reload_failed"');
}

interface Signed {
  readonly token: string;
  readonly kid: string;
  readonly version: number;
}

interface PublicKeys {
  readonly name: string;
  readonly type: string;
  readonly versions: readonly {
    readonly version: number;
    readonly state: string;
    readonly kid: string;
    readonly pem: string;
    readonly jwk: Record<string, string>;
  }[];
}

const CLAIMS = { sub: "user-42", aud: "api", iss: "caas-e2e", scope: ["read", "write"] };
const signJwt = (name: string, claims: Record<string, unknown> = CLAIMS, expiresIn?: number) =>
  ok<Signed>(`/keyring/${name}/jwt`, { claims, ...(expiresIn === undefined ? {} : { expires_in: expiresIn }) });
const publicKeys = (name: string) => ok<PublicKeys>(`/keyring/${name}/public-key`);

/** A fetch for jose that trusts the test CA, counting the JWKS fetches it makes. */
function trustingFetch(): { readonly fetch: (url: string, options: RequestInit) => Promise<Response>; count: () => number } {
  let fetches = 0;
  return {
    fetch: (url, options) => {
      fetches++;
      return fetch(url, { ...options, tls: { ca: pki.caCertPem } } as RequestInit);
    },
    count: () => fetches,
  };
}

const jwksUrl = () => new URL(`${server.url}/.well-known/jwks.json`);

function b64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64url");
}

function fromCaas(value: string): Uint8Array {
  return Uint8Array.fromBase64(value.slice(value.lastIndexOf(":") + 1));
}

/** Runs PyJWT over each case: the claims it decoded, or the exception's class name. */
function pyjwt(cases: readonly { token: string; pem: string; alg: string }[]): (Record<string, unknown> | string)[] {
  const script = `
import json, sys, jwt
out = []
for case in json.load(sys.stdin):
    try:
        out.append(jwt.decode(case["token"], case["pem"], algorithms=[case["alg"]], audience="api", issuer="caas-e2e"))
    except Exception as error:
        out.append(type(error).__name__)
print(json.dumps(out))
`;
  const result = Bun.spawnSync([PYTHON, "-c", script], { stdin: Buffer.from(JSON.stringify(cases)), stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`python: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString()) as (Record<string, unknown> | string)[];
}

describe("JWTs verified by independent implementations", () => {
  it("jose verifies a token of each signing type against caas's JWKS URL, and finds no key for an HMAC or unpublished key's token", async () => {
    const counter = trustingFetch();
    const jwks = createRemoteJWKSet(jwksUrl(), { [customFetch]: counter.fetch });
    for (const [name, alg] of Object.entries(SIGNING)) {
      const signed = await signJwt(name);
      expect(signed.kid).toBe(`${name}.v1`);
      const { payload, protectedHeader } = await jwtVerify(signed.token, jwks, { algorithms: [alg], audience: "api", issuer: "caas-e2e" });
      expect(protectedHeader).toEqual({ alg, kid: `${name}.v1`, typ: "JWT" });
      expect(payload.sub).toBe("user-42");
      expect(payload.scope).toEqual(["read", "write"]);
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    }
    await expect(jwtVerify((await signJwt("ed2")).token, jwks)).rejects.toMatchObject({ code: "ERR_JWKS_NO_MATCHING_KEY" });
    await expect(jwtVerify((await signJwt("hs")).token, jwks)).rejects.toMatchObject({ code: "ERR_JOSE_NOT_SUPPORTED" });
    // HS256 cannot be checked outside caas (its secret is never exported): caas's own verify.
    const mac = await signJwt("hs");
    expect(JSON.parse(Buffer.from(mac.token.split(".")[0] ?? "", "base64url").toString())).toEqual({
      alg: "HS256",
      kid: "hs.v1",
      typ: "JWT",
    });
    expect(await ok("/keyring/hs/jwt/verify", { token: mac.token, audience: "api", issuer: "caas-e2e" })).toEqual({
      valid: true,
      claims: { ...CLAIMS, iat: expect.any(Number), exp: expect.any(Number) },
      kid: "hs.v1",
    });
  }, 30_000);

  it("publishes a JWKS of the published keys' public halves only, with a Cache-Control a verifier can follow", async () => {
    const answer = await server.request("/.well-known/jwks.json");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toMatch(/^public, max-age=\d+$/);
    const { keys } = (await answer.json()) as JSONWebKeySet;
    const published = KEYS.filter((key) => key.publish).map((key) => `${key.name}.v1`);
    expect(keys.map((key) => key.kid).sort()).toEqual(expect.arrayContaining(published.sort()));
    expect(keys.map((key) => key.kid)).not.toContain("hs.v1");
    expect(keys.map((key) => key.kid)).not.toContain("ed2.v1");
    for (const key of keys) {
      for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]) expect(Object.keys(key)).not.toContain(secret);
      expect(key.use).toBe("sig");
    }
  });

  it.skipIf(!hasPyJwt)(
    "PyJWT with cryptography verifies a token of each signing type with the PEM from public-key",
    async () => {
      const cases: { token: string; pem: string; alg: string }[] = [];
      for (const [name, alg] of Object.entries(SIGNING)) {
        const pem = (await publicKeys(name)).versions[0]?.pem ?? "";
        expect(pem).toStartWith("-----BEGIN PUBLIC KEY-----");
        cases.push({ token: (await signJwt(name)).token, pem, alg });
      }
      // Controls: another key's PEM, and the header's alg when the PEM is given as an HMAC secret.
      const otherPem = (await publicKeys("es2")).versions[0]?.pem ?? "";
      const controls = [
        { ...(cases[1] as (typeof cases)[number]), pem: otherPem },
        { ...(cases[1] as (typeof cases)[number]), alg: "HS256" },
      ];
      const results = pyjwt([...cases, ...controls]);
      for (const decoded of results.slice(0, cases.length)) expect(decoded).toMatchObject({ sub: "user-42", aud: "api", iss: "caas-e2e" });
      expect(results.slice(cases.length)).toEqual(["InvalidSignatureError", "InvalidAlgorithmError"]);
    },
    30_000,
  );
});

describe("signatures over bytes verified by independent implementations", () => {
  const data = new Uint8Array(Array.from({ length: 300 }, (_, index) => (index * 37 + 11) % 256));
  const altered = Uint8Array.from(data, (byte, index) => (index === 150 ? byte ^ 1 : byte));
  const sign = async (name: string, extra: Record<string, string> = {}) =>
    fromCaas((await ok<{ signature: string }>(`/keyring/${name}/sign`, { data: data.toBase64(), encoding: "base64", ...extra })).signature);

  function opensslVerifies(pem: string, signature: Uint8Array, signed: Uint8Array, args: readonly string[]): boolean {
    const scratch = tempDir("caas-openssl-");
    try {
      writeFileSync(join(scratch, "pub.pem"), pem);
      writeFileSync(join(scratch, "sig"), signature);
      writeFileSync(join(scratch, "data"), signed);
      const command = args.map((arg) => arg.replace("@", `${scratch}/`));
      const result = Bun.spawnSync(["openssl", ...command], { stdout: "pipe", stderr: "pipe" });
      return result.exitCode === 0;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  const dgst = ["dgst", "-sha256", "-verify", "@pub.pem", "-signature", "@sig"];
  const OPENSSL: readonly { name: string; label: string; request: Record<string, string>; args: readonly string[] }[] = [
    {
      name: "ed",
      label: "Ed25519 (pkeyutl -rawin)",
      request: {},
      args: ["pkeyutl", "-verify", "-pubin", "-inkey", "@pub.pem", "-rawin", "-in", "@data", "-sigfile", "@sig"],
    },
    { name: "es", label: "ECDSA P-256, DER", request: { format: "der" }, args: [...dgst, "@data"] },
    {
      name: "rs",
      label: "RSA-PSS (SHA-256, 32-byte salt), the default",
      request: {},
      args: [...dgst, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "@data"],
    },
    { name: "rs", label: "RSA PKCS#1 v1.5", request: { padding: "pkcs1" }, args: [...dgst, "@data"] },
  ];

  for (const row of OPENSSL) {
    it(`openssl verifies ${row.label} with the PEM from public-key, and not over other data`, async () => {
      const pem = (await publicKeys(row.name)).versions[0]?.pem ?? "";
      const signature = await sign(row.name, row.request);
      expect(opensslVerifies(pem, signature, data, row.args)).toBe(true);
      expect(opensslVerifies(pem, signature, altered, row.args)).toBe(false);
    });
  }

  it("@noble/curves verifies Ed25519 and P-256 r‖s signatures with the point from the JWK, and not over other data", async () => {
    const jwkOf = async (name: string) => (await publicKeys(name)).versions[0]?.jwk ?? {};
    const edPoint = Buffer.from((await jwkOf("ed")).x ?? "", "base64url");
    const edSignature = await sign("ed");
    expect(ed25519.verify(edSignature, data, edPoint)).toBe(true);
    expect(ed25519.verify(edSignature, altered, edPoint)).toBe(false);
    const es = await jwkOf("es");
    const esPoint = Uint8Array.from([0x04, ...Buffer.from(es.x ?? "", "base64url"), ...Buffer.from(es.y ?? "", "base64url")]);
    // noble's default takes s in the lower half only, the one form of each signature caas writes.
    for (let round = 0; round < 8; round++) {
      const esSignature = await sign("es");
      expect(esSignature.length).toBe(64);
      expect(p256.verify(esSignature, data, esPoint)).toBe(true);
      expect(p256.verify(esSignature, altered, esPoint, { lowS: false })).toBe(false);
    }
  });
});

describe("rotation of a published signing key", () => {
  it("publishes the staged version before it signs; a verifier holding the JWKS from before the promotion verifies the new kid without fetching again", async () => {
    const before = await signJwt("sessions");
    expect(before.kid).toBe("sessions.v1");
    keyring("rotate", "sessions");
    await reload();

    const staged = await publicKeys("sessions");
    expect(staged.versions.map(({ version, state, kid }) => ({ version, state, kid }))).toEqual([
      { version: 1, state: "active", kid: "sessions.v1" },
      { version: 2, state: "staged", kid: "sessions.v2" },
    ]);
    const snapshot = (await (await server.request("/.well-known/jwks.json")).json()) as JSONWebKeySet;
    expect(snapshot.keys.filter((key) => key.kid?.startsWith("sessions.")).map((key) => key.kid)).toEqual(["sessions.v1", "sessions.v2"]);
    expect((await signJwt("sessions")).kid).toBe("sessions.v1");
    expect((await ok<{ version: number }>("/keyring/sessions/sign", { data: "x" })).version).toBe(1);

    const counter = trustingFetch();
    const remote = createRemoteJWKSet(jwksUrl(), { [customFetch]: counter.fetch });
    await jwtVerify(before.token, remote, { audience: "api" });
    expect(counter.count()).toBe(1);
    const local = createLocalJWKSet(snapshot);

    keyring("promote", "sessions", "2");
    // Another instance that loads the file now signs with version 2 at once; this one, which holds
    // it staged and has not reloaded, already verifies what that one signs.
    const ahead = await startCaas({ pki, env: serverEnvironment() });
    try {
      const answer = await ahead.post("/keyring/sessions/jwt", { claims: CLAIMS }, { authorization: `Bearer ${apiKey.admin}` });
      const signedAhead = (await answer.json()) as Signed;
      expect(signedAhead.kid).toBe("sessions.v2");
      expect((await ok("/keyring/sessions/jwt/verify", { token: signedAhead.token })).valid).toBe(true);
      expect((await signJwt("sessions")).kid).toBe("sessions.v1");
    } finally {
      await ahead.stop();
    }
    await reload();
    const after = await signJwt("sessions");
    expect({ kid: after.kid, version: after.version }).toEqual({ kid: "sessions.v2", version: 2 });
    for (const jwks of [local, remote]) {
      const { protectedHeader, payload } = await jwtVerify(after.token, jwks, { algorithms: ["ES256"], audience: "api" });
      expect([protectedHeader.kid, payload.sub]).toEqual(["sessions.v2", "user-42"]);
    }
    expect(counter.count()).toBe(1);
    // The version superseded still verifies what it signed, in caas and outside it.
    expect((await ok("/keyring/sessions/jwt/verify", { token: before.token })).valid).toBe(true);
    await jwtVerify(before.token, local);
    expect((await publicKeys("sessions")).versions.map(({ version, state }) => ({ version, state }))).toEqual([
      { version: 1, state: "decrypt-only" },
      { version: 2, state: "active" },
    ]);

    // Retired: out of the JWKS and public-key, and its tokens and signatures no longer verify.
    const oldSignature = (await ok<{ signature: string }>("/keyring/sessions/sign", { data: "x" })).signature;
    expect(oldSignature).toStartWith("caas:v2:");
    keyring("set", "sessions", "--min-decryption-version", "2");
    await reload();
    const jwks = (await (await server.request("/.well-known/jwks.json")).json()) as JSONWebKeySet;
    expect(jwks.keys.filter((key) => key.kid?.startsWith("sessions.")).map((key) => key.kid)).toEqual(["sessions.v2"]);
    expect((await publicKeys("sessions")).versions.map(({ version, state }) => ({ version, state }))).toEqual([
      { version: 2, state: "active" },
    ]);
    expect(await ok("/keyring/sessions/jwt/verify", { token: before.token })).toEqual({ valid: false, reason: "unknown_kid" });
    expect((await ok("/keyring/sessions/jwt/verify", { token: after.token })).valid).toBe(true);
    expect((await ok("/keyring/sessions/verify", { data: "x", signature: oldSignature })).valid).toBe(true);

    // Each use counted under the version that made or checked it (the other instance's are its own).
    const page = await parseMetricsPage(await (await server.ops("/metrics")).text());
    const uses = (version: string, operation: string) =>
      page.value("caas_keyring_operations_total", { key: "sessions", version, operation });
    expect({
      jwt: [uses("1", "jwt"), uses("2", "jwt")],
      sign: [uses("1", "sign"), uses("2", "sign")],
      jwtVerify: [uses("1", "jwt_verify"), uses("2", "jwt_verify")],
      verify: [uses("1", "verify"), uses("2", "verify")],
    }).toEqual({ jwt: [3, 1], sign: [1, 1], jwtVerify: [1, 2], verify: [undefined, 1] });
  }, 30_000);
});

/** Every signing route: its path, method, the scope it needs and a body it would take. */
const SIGNING_ROUTES: readonly { readonly path: string; readonly needs: "sign" | "verify"; readonly body?: unknown }[] = [
  { path: "sign", needs: "sign", body: { data: "x" } },
  { path: "sign/batch", needs: "sign", body: { items: [{ data: "x" }] } },
  { path: "hmac", needs: "sign", body: { data: "x" } },
  { path: "hmac/batch", needs: "sign", body: { items: [{ data: "x" }] } },
  { path: "jwt", needs: "sign", body: { claims: { sub: "x" } } },
  { path: "verify", needs: "verify", body: { data: "x", signature: "caas:v1:AAAA" } },
  { path: "verify/batch", needs: "verify", body: { items: [{ data: "x", signature: "caas:v1:AAAA" }] } },
  { path: "jwt/verify", needs: "verify", body: { token: "a.b.c" } },
  { path: "public-key", needs: "verify" },
];

describe("refusals", () => {
  it("answers every signing route the same 401 without a key and the same 403 for every missing scope, for present and absent names alike", async () => {
    let compared = 0;
    for (const route of SIGNING_ROUTES) {
      const callers = [apiKey.bare, apiKey.other, route.needs === "sign" ? apiKey.verifier : apiKey.signer];
      const answers = new Map<string, Answer[]>();
      for (const name of [...ALL_NAMES, "no-such-key"]) {
        const path = `/keyring/${name}/${route.path}`;
        answers.set(`401`, [...(answers.get("401") ?? []), await call(path, route.body)]);
        for (const caller of callers) answers.set("403", [...(answers.get("403") ?? []), await call(path, route.body, caller)]);
      }
      for (const [status, seen] of answers) {
        const first = seen[0] as Answer;
        expect(first.status).toBe(Number(status));
        expect(codeOf(first)).toBe(status === "401" ? "unauthorized" : "forbidden");
        for (const answer of seen) expect({ route: route.path, ...answer }).toEqual({ route: route.path, ...first });
        compared += seen.length;
      }
    }
    expect(compared).toBe(SIGNING_ROUTES.length * (ALL_NAMES.length + 1) * 4);
    // Only a caller whose scope covers the name learns that the keyring lacks it.
    for (const route of SIGNING_ROUTES) {
      const caller = route.needs === "sign" ? apiKey.signer : apiKey.verifier;
      for (const key of [apiKey.admin, caller]) {
        const answer = await call(`/keyring/${ABSENT}/${route.path}`, route.body, key);
        expect({ route: route.path, status: answer.status, code: codeOf(answer) }).toEqual({
          route: route.path,
          status: 404,
          code: "unknown_key",
        });
      }
    }
  }, 60_000);

  const TYPES: Record<string, string> = { xa: "xaes-256-gcm", hs: "hmac-sha256", ed: "ed25519", es: "ecdsa-p256", rs: "rsa-2048" };
  const SIGNATURE_TYPES = ["ed25519", "ecdsa-p256", "rsa-2048"];
  /** Stands for a ciphertext of key xa, made when the test runs. */
  const SEALED = "@sealed";
  /** Each operation, a body it takes, and the types that do it (all others: 400 unsupported_operation). */
  const OPERATIONS: readonly {
    readonly label: string;
    readonly path: string;
    readonly body?: unknown;
    readonly types: readonly string[];
  }[] = [
    { label: "encrypt", path: "encrypt", body: { data: "x" }, types: ["xaes-256-gcm"] },
    { label: "encrypt/batch", path: "encrypt/batch", body: { items: [{ data: "x" }] }, types: ["xaes-256-gcm"] },
    { label: "decrypt", path: "decrypt", body: { ciphertext: SEALED }, types: ["xaes-256-gcm"] },
    { label: "decrypt/batch", path: "decrypt/batch", body: { items: [{ ciphertext: SEALED }] }, types: ["xaes-256-gcm"] },
    { label: "rewrap", path: "rewrap", body: { ciphertext: SEALED }, types: ["xaes-256-gcm"] },
    { label: "rewrap/batch", path: "rewrap/batch", body: { items: [{ ciphertext: SEALED }] }, types: ["xaes-256-gcm"] },
    { label: "datakey", path: "datakey", body: {}, types: ["xaes-256-gcm"] },
    { label: "sign", path: "sign", body: { data: "x" }, types: SIGNATURE_TYPES },
    { label: "sign/batch", path: "sign/batch", body: { items: [{ data: "x" }] }, types: SIGNATURE_TYPES },
    { label: "sign with format der", path: "sign", body: { data: "x", format: "der" }, types: ["ecdsa-p256"] },
    { label: "sign with padding pkcs1", path: "sign", body: { data: "x", padding: "pkcs1" }, types: ["rsa-2048"] },
    { label: "hmac", path: "hmac", body: { data: "x" }, types: ["hmac-sha256"] },
    { label: "hmac/batch", path: "hmac/batch", body: { items: [{ data: "x" }] }, types: ["hmac-sha256"] },
    { label: "verify a signature", path: "verify", body: { data: "x", signature: "caas:v1:AAAA" }, types: SIGNATURE_TYPES },
    { label: "verify a MAC", path: "verify", body: { data: "x", hmac: "caas:v1:AAAA" }, types: ["hmac-sha256"] },
    {
      label: "verify/batch of signatures",
      path: "verify/batch",
      body: { items: [{ data: "x", signature: "caas:v1:AAAA" }] },
      types: [...SIGNATURE_TYPES, "hmac-sha256"],
    },
    { label: "jwt", path: "jwt", body: { claims: { sub: "x" } }, types: [...SIGNATURE_TYPES, "hmac-sha256"] },
    { label: "jwt/verify", path: "jwt/verify", body: { token: "a.b.c" }, types: [...SIGNATURE_TYPES, "hmac-sha256"] },
    { label: "public-key", path: "public-key", types: SIGNATURE_TYPES },
  ];

  it("answers 400 unsupported_operation for each operation a key's type does not do, and the operation for each type that does", async () => {
    const sealed = (await ok<{ ciphertext: string }>("/keyring/xa/encrypt", { data: "x" })).ciphertext;
    const table: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    for (const operation of OPERATIONS) {
      const body =
        operation.body === undefined ? undefined : (JSON.parse(JSON.stringify(operation.body).replaceAll(SEALED, sealed)) as unknown);
      const row: Record<string, string> = {};
      const wanted: Record<string, string> = {};
      for (const [name, type] of Object.entries(TYPES)) {
        const answer = await call(`/keyring/${name}/${operation.path}`, body, apiKey.admin);
        row[type] = answer.status === 200 ? "200" : `${answer.status} ${codeOf(answer)}`;
        wanted[type] = operation.types.includes(type) ? "200" : "400 unsupported_operation";
      }
      table[operation.label] = row;
      expected[operation.label] = wanted;
    }
    // A batch of one kind under the other kind of key fails its item, not the request.
    expected["verify/batch of signatures"] = { ...expected["verify/batch of signatures"], "hmac-sha256": "200" };
    expect(table).toEqual(expected);
    const batch = await ok<{ results: unknown[] }>("/keyring/hs/verify/batch", { items: [{ data: "x", signature: "caas:v1:AAAA" }] });
    expect(batch.results).toEqual([{ error: { code: "unsupported_operation", message: expect.any(String) } }]);
  }, 60_000);
});

describe("jwt/verify refuses every wrong token with its reason", () => {
  /** A token with the header replaced, its signature kept. */
  function withHeader(token: string, header: Record<string, unknown>, signature?: string): string {
    const [, payload, kept] = token.split(".");
    return `${b64url(JSON.stringify(header))}.${payload}.${signature ?? kept}`;
  }

  async function verdict(name: string, token: string, checks: Record<string, unknown> = {}): Promise<Answer> {
    return call(`/keyring/${name}/jwt/verify`, { token, ...checks }, apiKey.verifier);
  }

  const GARBAGE = [
    "",
    "x",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "..",
    "...",
    "e30.e30.",
    "W10.e30.AAAA",
    "e30.W10.AAAA",
    "bnVsbA.e30.AAAA",
    `${b64url("{")}.e30.AAAA`,
    "eyJhbGciOiJFZERTQSJ9.e30.!!!!",
    "eyJhbGciOiJFZERTQSJ9.e30.AAAA=",
    "eyJhbGciOiJFZERTQSJ9.e30+.AAAA",
    "\u0000.\u0000.\u0000",
    "ꙮ.ꙮ.ꙮ",
    ".".repeat(10_000),
    "a".repeat(100_000),
  ];

  it("gives each wrong token of each JWT key type its stable reason, never a 5xx", async () => {
    const alg = { ed: "EdDSA", es: "ES256", rs: "RS256", hs: "HS256" } as const;
    const otherAlg = { ed: "ES256", es: "EdDSA", rs: "PS256", hs: "RS256" } as const;
    const shortLived = await Promise.all((["ed", "es", "rs", "hs"] as const).map((name) => signJwt(name, CLAIMS, 1)));
    const seen: string[] = [];
    for (const [index, name] of (["ed", "es", "rs", "hs"] as const).entries()) {
      const good = (await signJwt(name)).token;
      const [header, payload, signature] = good.split(".") as [string, string, string];
      const kid = `${name}.v1`;
      const fromOther = (await signJwt(`${name}2`)).token;
      const pem = name === "hs" ? undefined : (await publicKeys(name)).versions[0]?.pem;
      const hsWithPem =
        pem === undefined
          ? undefined
          : (() => {
              const input = `${b64url(JSON.stringify({ alg: "HS256", kid, typ: "JWT" }))}.${payload}`;
              return `${input}.${b64url(createHmac("sha256", pem).update(input).digest())}`;
            })();
      const signatureBytes = Buffer.from(signature, "base64url");
      const cases: [string, string, Record<string, unknown>, string][] = [
        ["alg none", `${b64url(JSON.stringify({ alg: "none", kid, typ: "JWT" }))}.${payload}.`, {}, "wrong_alg"],
        ["alg none, signature kept", withHeader(good, { alg: "none", kid, typ: "JWT" }), {}, "wrong_alg"],
        ["another alg", withHeader(good, { alg: otherAlg[name], kid, typ: "JWT" }), {}, "wrong_alg"],
        ["no alg", withHeader(good, { kid, typ: "JWT" }), {}, "malformed"],
        ["an extension it must understand (crit)", withHeader(good, { alg: alg[name], kid, typ: "JWT", crit: ["exp"] }), {}, "malformed"],
        ["no kid", withHeader(good, { alg: alg[name], typ: "JWT" }), {}, "unknown_kid"],
        ["a kid of another key", withHeader(good, { alg: alg[name], kid: `${name}2.v1`, typ: "JWT" }), {}, "unknown_kid"],
        ["a token of another key", fromOther, {}, "unknown_kid"],
        ["another key's token under this kid", withHeader(fromOther, { alg: alg[name], kid, typ: "JWT" }), {}, "bad_signature"],
        ["another key's signature", `${header}.${payload}.${fromOther.split(".")[2]}`, {}, "bad_signature"],
        ["a signature cut by a byte", `${header}.${payload}.${b64url(signatureBytes.subarray(0, -1))}`, {}, "bad_signature"],
        [
          "a signature cut in half",
          `${header}.${payload}.${b64url(signatureBytes.subarray(0, signatureBytes.length >> 1))}`,
          {},
          "bad_signature",
        ],
        ["no signature", `${header}.${payload}.`, {}, "bad_signature"],
        ["a payload changed", `${header}.${b64url(JSON.stringify({ ...CLAIMS, sub: "admin" }))}.${signature}`, {}, "bad_signature"],
        ["header and payload swapped", `${payload}.${header}.${signature}`, {}, "malformed"],
        ["expired", (shortLived[index] as Signed).token, {}, "expired"],
        ["wrong audience", good, { audience: "billing" }, "wrong_audience"],
        ["wrong issuer", good, { issuer: "someone-else" }, "wrong_issuer"],
        ...GARBAGE.map((token, at): [string, string, Record<string, unknown>, string] => [`garbage ${at}`, token, {}, "malformed"]),
      ];
      if (hsWithPem !== undefined) cases.push(["HS256 with the public key's PEM as its secret", hsWithPem, {}, "wrong_alg"]);
      if (name === "es") {
        const { r, s } = p256.Signature.fromBytes(signatureBytes, "compact");
        const twin = new p256.Signature(r, p256.Point.Fn.ORDER - s).toBytes("compact");
        cases.push(["the twin signature (r, n − s), made by no one", `${header}.${payload}.${b64url(twin)}`, {}, "bad_signature"]);
      }
      const notYet = (await signJwt(name, { ...CLAIMS, nbf: Math.floor(Date.now() / 1000) + 3600 })).token;
      cases.push(["nbf an hour ahead", notYet, {}, "not_yet_valid"]);
      if (index === 0) await Bun.sleep(2_100);
      for (const [label, token, checks, reason] of cases) {
        const answer = await verdict(name, token, checks);
        expect({ key: name, label, status: answer.status, body: answer.body }).toEqual({
          key: name,
          label,
          status: 200,
          body: { valid: false, reason },
        });
        seen.push(reason);
      }
      // The right checks, and leeway, take it.
      expect((await verdict(name, good, { audience: "api", issuer: "caas-e2e" })).body.valid).toBe(true);
      expect((await verdict(name, notYet, { leeway: 300 })).body.valid).toBe(false);
    }
    expect(new Set(seen)).toEqual(
      new Set(["malformed", "bad_signature", "expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "unknown_kid", "wrong_alg"]),
    );
  }, 60_000);

  it("answers 503 key_version_unknown for a kid naming a version above any held, never valid false", async () => {
    for (const name of ["ed", "es", "rs", "hs"]) {
      const good = (await signJwt(name)).token;
      const alg = JSON.parse(Buffer.from(good.split(".")[0] ?? "", "base64url").toString()).alg as string;
      const answer = await verdict(name, withHeader(good, { alg, kid: `${name}.v99`, typ: "JWT" }));
      expect({ name, status: answer.status, code: codeOf(answer) }).toEqual({ name, status: 503, code: "key_version_unknown" });
    }
  });
});

describe("the audit trail and the metrics of signing", () => {
  const CANARY = { data: "canary-data-5b1e9", claim: "canary-claim-7c2f4" };

  function auditLines(): Record<string, unknown>[] {
    return readFileSync(files.audit, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async function keyUses(): Promise<(labels: Record<string, string>) => number> {
    const page = await parseMetricsPage(await (await server.ops("/metrics")).text());
    return (labels) => page.value("caas_keyring_operations_total", labels) ?? 0;
  }

  it("names in its line the version a request asked for that this instance does not hold (503 key_version_unknown)", async () => {
    const signed = await ok<{ signature: string }>("/keyring/audited/sign", { data: "x" }, apiKey.signer);
    const future = signed.signature.replace(/^caas:v1:/, "caas:v99:");
    const linesBefore = auditLines().length;
    const answer = await call("/keyring/audited/verify", { data: "x", signature: future }, apiKey.verifier);
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({ status: 503, code: "key_version_unknown" });
    const deadline = Date.now() + 5_000;
    while (auditLines().length < linesBefore + 1 && Date.now() < deadline) await Bun.sleep(20);
    expect(auditLines().slice(linesBefore)).toEqual([
      expect.objectContaining({
        operation: "keyring.verify",
        keyName: "audited",
        keyVersion: 99,
        status: 503,
        code: "key_version_unknown",
      }),
    ]);
  });

  it("writes one line per request naming key and version, and never the data, signatures, tokens or claims; counts each use by key, version and operation", async () => {
    // An encryption key's uses too, so the page shows every operation it counts.
    const sealed = await ok<{ ciphertext: string }>("/keyring/xa/encrypt", { data: CANARY.data });
    await ok("/keyring/xa/decrypt", { ciphertext: sealed.ciphertext });
    const usesBefore = await keyUses();
    const linesBefore = auditLines().length;
    const signed = await ok<{ signature: string }>("/keyring/audited/sign", { data: CANARY.data }, apiKey.signer);
    const batch = await ok<{ results: { signature: string }[] }>(
      "/keyring/audited/sign/batch",
      { items: [{ data: CANARY.data }, { data: `${CANARY.data}-2` }] },
      apiKey.signer,
    );
    const mac = await ok<{ hmac: string }>("/keyring/macs/hmac", { data: CANARY.data }, apiKey.signer);
    const macs = await ok<{ results: { hmac: string }[] }>("/keyring/macs/hmac/batch", { items: [{ data: CANARY.data }] }, apiKey.signer);
    await ok("/keyring/audited/verify", { data: CANARY.data, signature: signed.signature }, apiKey.verifier);
    await ok(
      "/keyring/audited/verify/batch",
      { items: batch.results.map((item) => ({ data: CANARY.data, signature: item.signature })) },
      apiKey.verifier,
    );
    await ok("/keyring/macs/verify", { data: CANARY.data, hmac: mac.hmac }, apiKey.verifier);
    const token = await ok<Signed>("/keyring/audited/jwt", { claims: { sub: CANARY.claim } }, apiKey.signer);
    expect((await ok("/keyring/audited/jwt/verify", { token: token.token }, apiKey.verifier)).valid).toBe(true);
    const [header, , signature] = token.token.split(".");
    const altered = `${header}.${b64url(JSON.stringify({ sub: "someone-else" }))}.${signature}`;
    expect((await ok("/keyring/audited/jwt/verify", { token: altered }, apiKey.verifier)).valid).toBe(false);
    await ok("/keyring/audited/public-key", undefined, apiKey.verifier);

    const deadline = Date.now() + 5_000;
    while (auditLines().length < linesBefore + 11 && Date.now() < deadline) await Bun.sleep(20);
    const lines = auditLines()
      .slice(linesBefore)
      .map(({ operation, keyName, keyVersion, keyVersions, status }) => ({ operation, keyName, keyVersion, keyVersions, status }));
    const line = (operation: string, keyName: string, keyVersion?: number, keyVersions?: number[]) => ({
      operation,
      keyName,
      keyVersion,
      keyVersions,
      status: 200,
    });
    expect(lines).toEqual([
      line("keyring.sign", "audited", 1),
      line("keyring.sign_batch", "audited", 1),
      line("keyring.hmac", "macs", 1),
      line("keyring.hmac_batch", "macs", 1),
      line("keyring.verify", "audited", 1),
      line("keyring.verify_batch", "audited", undefined, [1]),
      line("keyring.verify", "macs", 1),
      line("keyring.jwt", "audited", 1),
      line("keyring.jwt_verify", "audited", 1),
      line("keyring.jwt_verify", "audited", 1),
      line("keyring.public_key", "audited"),
    ]);

    const secrets = [
      CANARY.data,
      CANARY.claim,
      signed.signature,
      ...batch.results.map((item) => item.signature),
      mac.hmac,
      ...macs.results.map((item) => item.hmac),
      token.token,
      ...token.token.split("."),
    ].flatMap((secret) => [secret, secret.replace(/^caas:v\d+:/, "").slice(0, 24)]);
    const audit = readFileSync(files.audit, "utf8");
    for (const secret of secrets) {
      expect(audit).not.toContain(secret);
      expect(server.output()).not.toContain(secret);
    }

    const uses = await keyUses();
    const delta = (key: string, operation: string) => uses({ key, version: "1", operation }) - usesBefore({ key, version: "1", operation });
    expect({
      sign: delta("audited", "sign"),
      hmac: delta("macs", "hmac"),
      verifyAudited: delta("audited", "verify"),
      verifyMacs: delta("macs", "verify"),
      jwt: delta("audited", "jwt"),
      jwtVerify: delta("audited", "jwt_verify"),
    }).toEqual({ sign: 3, hmac: 2, verifyAudited: 3, verifyMacs: 1, jwt: 1, jwtVerify: 2 });

    // The family's help line says what each operation the page counts is.
    const family = (await parseMetricsPage(await (await server.ops("/metrics")).text())).family("caas_keyring_operations_total");
    const operations = new Set(family?.samples.map((sample) => sample.labels.operation ?? ""));
    expect([...operations].sort()).toEqual(["decrypt", "encrypt", "hmac", "jwt", "jwt_verify", "sign", "verify"]);
    for (const operation of operations) expect({ operation, named: family?.help.includes(operation) }).toEqual({ operation, named: true });
  }, 30_000);

  it("keeps what a refused request carried out of its answer, the audit trail and the logs", async () => {
    const canary = "canary-refused-3d8e";
    const token = (await signJwt("audited")).token;
    const [header, payload] = token.split(".") as [string, string];
    const refused: [string, unknown, string?][] = [
      ["/keyring/audited/sign", { data: canary, encoding: "base64" }],
      ["/keyring/audited/sign", { data: canary, format: "der" }],
      ["/keyring/audited/sign", { data: canary, [canary]: 1 }],
      ["/keyring/audited/verify", { data: canary, signature: `caas:v1:${canary}` }],
      ["/keyring/audited/verify", { data: canary, signature: `caas:v99:${b64url(canary)}` }],
      ["/keyring/audited/verify", { data: canary, hmac: "caas:v1:AAAA" }],
      ["/keyring/macs/verify", { data: canary, hmac: `caas:v1:${Buffer.from(canary).toString("base64")}` }],
      ["/keyring/audited/jwt", { claims: { nbf: canary } }],
      ["/keyring/audited/jwt", { claims: { iat: canary } }],
      ["/keyring/audited/jwt", { claims: { sub: canary }, expires_in: 0 }],
      ["/keyring/audited/jwt/verify", { token: canary }],
      ["/keyring/audited/jwt/verify", { token: `${header}.${b64url(JSON.stringify({ sub: canary }))}.AAAA` }],
      [
        "/keyring/audited/jwt/verify",
        { token: `${b64url(JSON.stringify({ alg: "EdDSA", kid: "audited.v77", x: canary }))}.${payload}.AAAA` },
      ],
      ["/keyring/audited/jwt/verify", { token, audience: canary, issuer: canary }],
      ["/keyring/xa/jwt", { claims: { sub: canary } }, apiKey.admin],
      ["/keyring/audited/hmac", { data: canary }, apiKey.admin],
      ["/keyring/audited/sign", { data: canary }, apiKey.verifier],
      ["/keyring/audited/sign", { data: canary }, canary],
    ];
    for (const [path, body, key] of refused) {
      const answer = await call(path, body, key ?? apiKey.admin);
      expect({
        path,
        refused: answer.status < 500 || codeOf(answer) === "key_version_unknown",
        echoed: JSON.stringify(answer.body).includes(canary),
      }).toEqual({
        path,
        refused: true,
        echoed: false,
      });
    }
    await Bun.sleep(200);
    expect(readFileSync(files.audit, "utf8")).not.toContain(canary);
    expect(server.output()).not.toContain(canary);
    expect(server.output()).not.toContain(b64url(canary).slice(0, 16));
  }, 30_000);
});
