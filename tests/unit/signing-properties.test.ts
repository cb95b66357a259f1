/**
 * The signing routes' promises as properties, through the app (app.handle): no tampered token
 * verifies, whatever is changed (any bit of any character, any byte of a decoded segment,
 * segments swapped or dropped, the same JSON or bytes encoded another way), and no tampered
 * signature or MAC does, nor one over other data; the answer is always valid false with a stable
 * reason (or 400 for a string that is not a caas signature), never a 5xx. And a version this
 * instance does not hold yet, one another instance signed with after a rotation, is
 * 503 key_version_unknown on verify and jwt/verify, never valid false, until it reloads.
 */
import { beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { p256 } from "@noble/curves/nist.js";
import fc from "fast-check";
import { type CaasApp, testApp } from "./helpers.ts";
import { scratchDirectories } from "./scratch.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { CredentialsHolder } from "../../src/credentials/holder.ts";
import type { KeyType } from "../../src/credentials/key-types.ts";
import type { Keyring } from "../../src/credentials/keyring.ts";
import { createKeyringKey, promoteKeyringVersion, rotateKeyringKey } from "../../src/credentials/keyring-changes.ts";
import { loadKeyring } from "../../src/credentials/keyring-file.ts";
import { initRootKey, loadRootKey } from "../../src/credentials/root-key.ts";
import { makeSecretRing, newSecretVersion } from "../../src/credentials/secret-ring.ts";
import { generateSigningKey, signingKeyFromPkcs8, signWith, verifyWith } from "../../src/crypto/signing.ts";
import { JWT_REASONS } from "../../src/modules/keyring/jwt.ts";

const RUNS = Number(process.env.CAAS_FUZZ_RUNS ?? 200);
const scratch = scratchDirectories("caas-signing-properties-");
const API_KEY = "caas-test-signing-key-0001";

/** One key of each type that makes JWTs, and the alg caas writes for it. */
const JWT_KEYS: readonly { readonly name: string; readonly type: KeyType; readonly alg: string }[] = [
  { name: "ed", type: "ed25519", alg: "EdDSA" },
  { name: "es", type: "ecdsa-p256", alg: "ES256" },
  { name: "rs", type: "rsa-2048", alg: "RS256" },
  { name: "hs", type: "hmac-sha256", alg: "HS256" },
];

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function appOver(keyring: Keyring): CaasApp {
  const apiKeys = ApiKeyStore.fromKeys([{ name: "all", key: API_KEY, scopes: JWT_KEYS.map((key) => `keyring:${key.name}`) }]);
  return testApp({ credentials: new CredentialsHolder({ apiKeys, secrets: makeSecretRing([newSecretVersion(1)]), keyring }) });
}

async function call(app: CaasApp, path: string, body: unknown): Promise<Answer> {
  const answer = await app.handle(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify(body),
    }),
  );
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

function codeOf(answer: Answer): string | undefined {
  return (answer.body.error as { code?: string } | undefined)?.code;
}

let files: { readonly keyring: string; readonly root: string };
let app: CaasApp;

beforeAll(async () => {
  const dir = await scratch();
  files = { keyring: join(dir, "keyring.json"), root: join(dir, "root") };
  await initRootKey(files.root);
  for (const key of JWT_KEYS) await createKeyringKey(files.keyring, files.root, { name: key.name, type: key.type });
  app = appOver(await loadKeyring(files.keyring, await loadRootKey(files.root)));
});

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");
const fromB64url = (text: string) => new Uint8Array(Buffer.from(text, "base64url"));

/** The version a token's header names in its kid, when it is `<name>.v<digits>` (what can make a tampered token 503). */
function kidVersionOf(token: string): number | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as { kid?: unknown };
    const match = typeof header.kid === "string" ? /\.v([1-9]\d{0,9})$/.exec(header.kid) : null;
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** What jwt/verify may answer a token that is not the one signed: valid false with a known reason, or 503 for a kid above version 1. */
function expectRefused(answer: Answer, token: string): void {
  if (answer.status === 503) {
    expect({ code: codeOf(answer), aboveHeld: (kidVersionOf(token) ?? 0) > 1 }).toEqual({ code: "key_version_unknown", aboveHeld: true });
    return;
  }
  expect(answer.status).toBe(200);
  expect(answer.body.valid).toBe(false);
  expect(JWT_REASONS).toContain(answer.body.reason as (typeof JWT_REASONS)[number]);
}

const claims = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }).filter((name) => name !== "iat" && name !== "exp" && name !== "nbf"),
  fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)),
  { maxKeys: 5 },
);

describe.each(JWT_KEYS)("$type JWTs ($alg)", ({ name }) => {
  const verify = (token: string) => call(app, `/keyring/${name}/jwt/verify`, { token });
  let token: string;
  beforeAll(async () => {
    const signed = await call(app, `/keyring/${name}/jwt`, { claims: { sub: "user-42", aud: "api" } });
    token = signed.body.token as string;
    expect((await verify(token)).body.valid).toBe(true);
  });

  it("verifies the tokens it signs, whatever their claims", async () => {
    await fc.assert(
      fc.asyncProperty(claims, async (some) => {
        const signed = await call(app, `/keyring/${name}/jwt`, { claims: some });
        expect(signed.status).toBe(200);
        const answer = await verify(signed.body.token as string);
        expect(answer.body).toEqual({
          valid: true,
          claims: { ...some, iat: expect.any(Number), exp: expect.any(Number) },
          kid: `${name}.v1`,
        });
      }),
      { numRuns: RUNS / 4 },
    );
  });

  it("verifies no token with any bit of any character flipped", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.integer({ min: 0, max: 6 }), async (index, bit) => {
        const altered = token.slice(0, index) + String.fromCharCode(token.charCodeAt(index) ^ (1 << bit)) + token.slice(index + 1);
        expectRefused(await verify(altered), altered);
      }),
      { numRuns: RUNS },
    );
  });

  it("verifies no token with any byte of its decoded header, payload or signature changed, re-encoded as caas would", async () => {
    const segments = token.split(".").map(fromB64url);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (segment, at, xor) => {
        const bytes = Uint8Array.from(segments[segment] as Uint8Array);
        if (bytes.length === 0) return;
        const index = at % bytes.length;
        bytes[index] = (bytes[index] as number) ^ xor;
        const parts = segments.map((part, which) => b64url(which === segment ? bytes : part));
        const altered = parts.join(".");
        expectRefused(await verify(altered), altered);
      }),
      { numRuns: RUNS },
    );
  });

  it("verifies no token with segments swapped, dropped, repeated, cut or extended", async () => {
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const variants = [
      `${payload}.${header}.${signature}`,
      `${header}.${signature}.${payload}`,
      `${signature}.${payload}.${header}`,
      `${header}.${header}.${signature}`,
      `${header}.${payload}`,
      `${header}.${payload}.`,
      `.${payload}.${signature}`,
      `${header}..${signature}`,
      `${header}.${payload}.${signature}.`,
      `${header}.${payload}.${signature}.${signature}`,
      `${header}.${payload}.${signature}${signature}`,
      `${header}.${payload}.${b64url(fromB64url(signature).subarray(1))}`,
      `${header}.${payload}.${b64url(Uint8Array.from([...fromB64url(signature), 0]))}`,
      ` ${token}`,
      `${token} `,
      `${token}\n`,
    ];
    for (const altered of variants) expectRefused(await verify(altered), altered);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length }), fc.nat({ max: token.length }), async (from, to) => {
        const cut = token.slice(0, Math.min(from, to)) + token.slice(Math.max(from, to));
        if (cut !== token) expectRefused(await verify(cut), cut);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it("verifies no token whose JSON or base64url is encoded another way (same claims, other bytes)", async () => {
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const headerJson = JSON.parse(Buffer.from(header, "base64url").toString()) as Record<string, unknown>;
    const payloadJson = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const reordered = (value: Record<string, unknown>) => Object.fromEntries(Object.entries(value).reverse());
    const padded = (part: string) => part + "=".repeat((4 - (part.length % 4)) % 4);
    const standard = (part: string) => Buffer.from(part, "base64url").toString("base64");
    const variants = [
      `${b64url(JSON.stringify(headerJson, null, 1))}.${payload}.${signature}`,
      `${b64url(JSON.stringify(reordered(headerJson)))}.${payload}.${signature}`,
      `${header}.${b64url(JSON.stringify(payloadJson, null, 2))}.${signature}`,
      `${header}.${b64url(JSON.stringify(reordered(payloadJson)))}.${signature}`,
      `${header}.${b64url(`${JSON.stringify(payloadJson)} `)}.${signature}`,
      `${header}.${b64url(`\uFEFF${JSON.stringify(payloadJson)}`)}.${signature}`,
      `${padded(header)}.${payload}.${signature}`,
      `${header}.${padded(payload)}.${signature}`,
      `${header}.${payload}.${padded(signature)}`,
      `${standard(header)}.${standard(payload)}.${standard(signature)}`,
      `${header}.${payload}.${standard(signature)}`,
    ].filter((variant) => variant !== token);
    expect(variants.length).toBeGreaterThanOrEqual(8);
    for (const altered of variants) expectRefused(await verify(altered), altered);
  });
});

describe("signatures and MACs over data", () => {
  const SIGNERS: readonly {
    readonly name: string;
    readonly route: string;
    readonly field: string;
    readonly form?: Record<string, string>;
  }[] = [
    { name: "ed", route: "sign", field: "signature" },
    { name: "es", route: "sign", field: "signature" },
    { name: "es", route: "sign", field: "signature", form: { format: "der" } },
    { name: "rs", route: "sign", field: "signature" },
    { name: "rs", route: "sign", field: "signature", form: { padding: "pkcs1" } },
    { name: "hs", route: "hmac", field: "hmac" },
  ];

  for (const { name, route, field, form = {} } of SIGNERS) {
    const label = `${name} ${route}${Object.values(form).map((value) => ` ${value}`)}`;
    it(`${label}: verifies what it made, and nothing with any bit of the string, or of the data, changed`, async () => {
      const data = "order 42 shipped";
      const made = (await call(app, `/keyring/${name}/${route}`, { data, ...form })).body[field] as string;
      const verify = (value: string, over: string = data) => call(app, `/keyring/${name}/verify`, { data: over, [field]: value, ...form });
      expect((await verify(made)).body).toEqual({ valid: true });
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: made.length - 1 }), fc.integer({ min: 0, max: 6 }), async (index, bit) => {
          const altered = made.slice(0, index) + String.fromCharCode(made.charCodeAt(index) ^ (1 << bit)) + made.slice(index + 1);
          const answer = await verify(altered);
          const version = /^caas:v([1-9]\d{0,9}):/.exec(altered)?.[1];
          if (answer.status === 200) expect(answer.body).toEqual({ valid: false });
          else if (version !== undefined && Number(version) > 1)
            expect([answer.status, codeOf(answer)]).toEqual([503, "key_version_unknown"]);
          else expect([answer.status, codeOf(answer)]).toEqual([400, "invalid_signature"]);
        }),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 40 }), async (other) => {
          if (other !== data) expect((await verify(made, other)).body).toEqual({ valid: false });
        }),
        { numRuns: RUNS / 2 },
      );
      const bytes = fromB64url(made.slice("caas:v1:".length).replaceAll("+", "-").replaceAll("/", "_"));
      for (const cut of [
        bytes.subarray(1),
        bytes.subarray(0, -1),
        bytes.subarray(0, bytes.length >> 1),
        new Uint8Array(0),
        Uint8Array.from([...bytes, 0]),
      ])
        expect((await verify(`caas:v1:${cut.toBase64()}`)).body).toEqual({ valid: false });
    });
  }
});

describe("a version this instance does not hold", () => {
  it("is 503 key_version_unknown on verify and jwt/verify, never valid false, until the instance loads it (staged is enough)", async () => {
    const behind = appOver(await loadKeyring(files.keyring, await loadRootKey(files.root)));
    for (const { name } of JWT_KEYS) await rotateKeyringKey(files.keyring, files.root, name);
    const staged = appOver(await loadKeyring(files.keyring, await loadRootKey(files.root)));
    for (const { name } of JWT_KEYS) await promoteKeyringVersion(files.keyring, files.root, name, { version: 2, activatesAt: Date.now() });
    const ahead = appOver(await loadKeyring(files.keyring, await loadRootKey(files.root)));
    for (const { name, type } of JWT_KEYS) {
      const field = type === "hmac-sha256" ? "hmac" : "signature";
      const made = await call(ahead, `/keyring/${name}/${type === "hmac-sha256" ? "hmac" : "sign"}`, { data: "x" });
      const signed = await call(ahead, `/keyring/${name}/jwt`, { claims: { sub: "user-42" } });
      expect([made.body.version, signed.body.kid]).toEqual([2, `${name}.v2`]);
      const checks = [
        () => call(behind, `/keyring/${name}/verify`, { data: "x", [field]: made.body[field] }),
        () => call(behind, `/keyring/${name}/jwt/verify`, { token: signed.body.token }),
      ];
      for (const check of checks) {
        const answer = await check();
        expect({ name, status: answer.status, code: codeOf(answer) }).toEqual({ name, status: 503, code: "key_version_unknown" });
      }
      const batch = await call(behind, `/keyring/${name}/verify/batch`, { items: [{ data: "x", [field]: made.body[field] }] });
      expect((batch.body.results as Answer["body"][])[0]?.error).toMatchObject({ code: "key_version_unknown" });
      expect((await call(ahead, `/keyring/${name}/jwt/verify`, { token: signed.body.token })).body.valid).toBe(true);
      // An instance holding version 2 staged verifies it already, and still signs with version 1.
      expect((await call(staged, `/keyring/${name}/jwt/verify`, { token: signed.body.token })).body.valid).toBe(true);
      expect((await call(staged, `/keyring/${name}/verify`, { data: "x", [field]: made.body[field] })).body).toEqual({ valid: true });
      expect((await call(staged, `/keyring/${name}/jwt`, { claims: {} })).body.kid).toBe(`${name}.v1`);
    }
    // Any version above the newest held, up to the highest a key can have.
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...JWT_KEYS), fc.integer({ min: 2, max: 2 ** 31 - 1 }), async ({ name, type, alg }, version) => {
        const header = b64url(JSON.stringify({ alg, kid: `${name}.v${version}`, typ: "JWT" }));
        const token = `${header}.${b64url(JSON.stringify({ sub: "x" }))}.${b64url(new Uint8Array(64))}`;
        const field = type === "hmac-sha256" ? "hmac" : "signature";
        for (const answer of [
          await call(behind, `/keyring/${name}/jwt/verify`, { token }),
          await call(behind, `/keyring/${name}/verify`, { data: "x", [field]: `caas:v${version}:${new Uint8Array(64).toBase64()}` }),
        ])
          expect([answer.status, codeOf(answer)]).toEqual([503, "key_version_unknown"]);
      }),
      { numRuns: RUNS / 2 },
    );
  });
});

/** noble's names for the two forms of an ECDSA signature. */
const NOBLE_FORMAT = { p1363: "compact", der: "der" } as const;

/** The twin of an ECDSA signature, (r, n − s): valid for the same data, made by no one (noble's arithmetic, not caas's). */
function otherS(signature: Uint8Array, format: "p1363" | "der"): Uint8Array {
  const { r, s } = p256.Signature.fromBytes(signature, NOBLE_FORMAT[format]);
  return new p256.Signature(r, p256.Point.Fn.ORDER - s).toBytes(NOBLE_FORMAT[format]);
}

describe("ECDSA signatures have one valid form", () => {
  it("signWith writes s in the lower half, DER exactly as noble encodes it; verifyWith refuses the twin when asked, and takes it by default (FIPS 186)", () => {
    const { privateKey, publicKey } = signingKeyFromPkcs8("ecdsa-p256", generateSigningKey("ecdsa-p256"));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        for (const format of ["p1363", "der"] as const) {
          const signature = signWith("ecdsa-p256", privateKey, data, { ecdsaFormat: format });
          const parsed = p256.Signature.fromBytes(signature, NOBLE_FORMAT[format]);
          expect(parsed.hasHighS()).toBe(false);
          expect(Buffer.from(signature).equals(parsed.toBytes(NOBLE_FORMAT[format]))).toBe(true);
          const twin = otherS(signature, format);
          expect(verifyWith("ecdsa-p256", publicKey, { data, signature }, { ecdsaFormat: format, ecdsaHighS: "refuse" })).toBe(true);
          expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: twin }, { ecdsaFormat: format, ecdsaHighS: "refuse" })).toBe(
            false,
          );
          expect(verifyWith("ecdsa-p256", publicKey, { data: data, signature: twin }, { ecdsaFormat: format })).toBe(true);
        }
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it("makes every signature and token with s in the lower half (sign, sign/batch, DER, jwt)", async () => {
    for (let round = 0; round < 16; round++) {
      const data = `order ${round}`;
      const p1363 = (await call(app, "/keyring/es/sign", { data })).body.signature as string;
      const der = (await call(app, "/keyring/es/sign", { data, format: "der" })).body.signature as string;
      const batch = (await call(app, "/keyring/es/sign/batch", { items: [{ data }, { data, format: "der" }] })).body.results as {
        signature: string;
      }[];
      const token = (await call(app, "/keyring/es/jwt", { claims: { sub: data } })).body.token as string;
      const made: [Uint8Array, "p1363" | "der"][] = [
        [Uint8Array.fromBase64(p1363.slice(8)), "p1363"],
        [Uint8Array.fromBase64(der.slice(8)), "der"],
        [Uint8Array.fromBase64(batch[0]?.signature.slice(8) ?? ""), "p1363"],
        [Uint8Array.fromBase64(batch[1]?.signature.slice(8) ?? ""), "der"],
        [fromB64url(token.split(".")[2] ?? ""), "p1363"],
      ];
      for (const [signature, format] of made) expect(p256.Signature.fromBytes(signature, NOBLE_FORMAT[format]).hasHighS()).toBe(false);
    }
  });

  it("refuses (r, n − s), the other valid signature nobody made, on verify, verify/batch and jwt/verify, in both forms", async () => {
    for (const format of ["p1363", "der"] as const) {
      for (let round = 0; round < 8; round++) {
        const data = `order ${round}`;
        const form = format === "der" ? { format } : {};
        const made = (await call(app, "/keyring/es/sign", { data, ...form })).body.signature as string;
        const flipped = `caas:v1:${otherS(Uint8Array.fromBase64(made.slice(8)), format).toBase64()}`;
        expect((await call(app, "/keyring/es/verify", { data, signature: made, ...form })).body).toEqual({ valid: true });
        expect({ format, answer: (await call(app, "/keyring/es/verify", { data, signature: flipped, ...form })).body }).toEqual({
          format,
          answer: { valid: false },
        });
        const batch = await call(app, "/keyring/es/verify/batch", { items: [{ data, signature: flipped, ...form }] });
        expect(batch.body.results).toEqual([{ valid: false }]);
      }
    }
    for (let round = 0; round < 8; round++) {
      const token = (await call(app, "/keyring/es/jwt", { claims: { sub: `user-${round}` } })).body.token as string;
      const [header, payload, signature] = token.split(".") as [string, string, string];
      const flipped = `${header}.${payload}.${b64url(otherS(fromB64url(signature), "p1363"))}`;
      expect((await call(app, "/keyring/es/jwt/verify", { token: flipped })).body).toEqual({ valid: false, reason: "bad_signature" });
    }
  });
});

describe("the claims a token carries", () => {
  it("are exactly those sent, for any JSON object of claims", async () => {
    const someClaims = fc.dictionary(
      fc.string({ maxLength: 8 }).filter((name) => !["iat", "exp", "nbf", "aud", "iss", "sub", "jti"].includes(name)),
      fc.jsonValue({ maxDepth: 3 }),
      { maxKeys: 6 },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...JWT_KEYS), someClaims, async ({ name }, sent) => {
        const text = JSON.stringify({ claims: sent });
        const signed = await app.handle(
          new Request(`http://localhost/keyring/${name}/jwt`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
            body: text,
          }),
        );
        const { token } = (await signed.json()) as { token: string };
        const verified = await call(app, `/keyring/${name}/jwt/verify`, { token });
        const { iat: _iat, exp: _exp, ...carried } = verified.body.claims as Record<string, unknown>;
        expect(JSON.stringify(carried)).toBe(JSON.stringify((JSON.parse(text) as { claims: unknown }).claims));
      }),
      { numRuns: RUNS / 2 },
    );
  });

  /** Raw JSON bodies: claims no verifier (caas's own jwt/verify included) would read as sent, each refused with its code. */
  const REFUSED: readonly [string, string, string][] = [
    ["nbf a string", '{"claims":{"nbf":"tomorrow"}}', "invalid_body"],
    ["nbf null", '{"claims":{"nbf":null}}', "invalid_body"],
    ["nbf an array", '{"claims":{"nbf":[1]}}', "invalid_body"],
    ["nbf past JSON's numbers", '{"claims":{"nbf":1e999}}', "invalid_body"],
    ["aud a number", '{"claims":{"aud":5}}', "invalid_body"],
    ["aud an object", '{"claims":{"aud":{"a":"b"}}}', "invalid_body"],
    ["aud an array holding a number", '{"claims":{"aud":["api",5]}}', "invalid_body"],
    ["iss a number", '{"claims":{"iss":1}}', "invalid_body"],
    ["iss null", '{"claims":{"iss":null}}', "invalid_body"],
    ["sub an object", '{"claims":{"sub":{}}}', "invalid_body"],
    ["sub true", '{"claims":{"sub":true}}', "invalid_body"],
    ["jti a number", '{"claims":{"jti":7}}', "invalid_body"],
    ["a number past JSON's (1e999 reads as Infinity)", '{"claims":{"n":1e999}}', "invalid_body"],
    ["a negative one", '{"claims":{"n":-1e999}}', "invalid_body"],
    ["one deep inside", '{"claims":{"a":{"b":[1,{"c":[2e400]}]}}}', "invalid_body"],
    ["a lone surrogate in a value", '{"claims":{"s":"\\ud800"}}', "invalid_text"],
    ["a lone surrogate deep inside", '{"claims":{"a":[{"b":"x\\udc00"}]}}', "invalid_text"],
    ["a lone surrogate in a name", '{"claims":{"\\ud800":1}}', "invalid_text"],
    ["a lone surrogate in sub", '{"claims":{"sub":"\\udfff"}}', "invalid_text"],
  ];

  it("are refused with 400 where a verifier would not read them as sent: registered claims of the wrong type, numbers JSON cannot carry, lone surrogates", async () => {
    const seen: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const { name } of JWT_KEYS) {
      for (const [label, body, code] of REFUSED) {
        const answer = await app.handle(
          new Request(`http://localhost/keyring/${name}/jwt`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
            body,
          }),
        );
        const json = (await answer.json()) as Record<string, unknown>;
        seen[`${name}: ${label}`] = `${answer.status} ${codeOf({ status: answer.status, body: json })}`;
        expected[`${name}: ${label}`] = `400 ${code}`;
        expect(JSON.stringify(json)).not.toContain("tomorrow");
      }
    }
    expect(seen).toEqual(expected);
  });

  it("are signed where registered claims have their types: nbf a number, aud a string or strings, iss, sub and jti strings", async () => {
    const claims = { nbf: 0, aud: ["api", "web"], iss: "caas", sub: "user-42", jti: "a1" };
    for (const { name } of JWT_KEYS) {
      const signed = await call(app, `/keyring/${name}/jwt`, { claims });
      const verified = await call(app, `/keyring/${name}/jwt/verify`, { token: signed.body.token, audience: "web", issuer: "caas" });
      expect(verified.body).toEqual({
        valid: true,
        claims: { ...claims, iat: expect.any(Number), exp: expect.any(Number) },
        kid: `${name}.v1`,
      });
      expect((await call(app, `/keyring/${name}/jwt`, { claims: { aud: "api" } })).status).toBe(200);
    }
  });
});
