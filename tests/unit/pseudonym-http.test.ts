/**
 * POST /encrypt, /encode and /verify through the whole app (app.handle, real key store, real
 * secret ring): who gets in, in what order failures are reported, and what the answers promise.
 */
import { describe, expect, it } from "bun:test";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { makeSecretRing, newSecretVersion, type SecretVersion } from "../../src/credentials/secret-ring.ts";
import { type CaasApp, postJson, testApp, testCredentials } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const STANDARD_KEY = "standard-key-for-tests-0123456789";
const OTHER_STANDARD_KEY = "another-standard-key-0123456789";
const COMPAT_KEY = "compat-key-for-tests-0123456789";
const DATA = "example sensitive data";

function keys(): ApiKeyStore {
  return ApiKeyStore.fromKeys([
    { name: "main-server", key: STANDARD_KEY },
    { name: "second-server", key: OTHER_STANDARD_KEY },
    { name: "legacy", key: COMPAT_KEY, profile: "django-compat" },
  ]);
}

function appWith(versions: readonly SecretVersion[] = [newSecretVersion(1)]) {
  const credentials = testCredentials({ apiKeys: keys(), secrets: versions });
  return { app: testApp({ credentials }), credentials };
}

const { app } = appWith();

interface PseudonymAnswer {
  encrypted_data: string;
  version: number;
}

async function pseudonym(
  body: unknown,
  headers: Record<string, string> = {},
  path = "/encrypt",
  on: CaasApp = app,
): Promise<PseudonymAnswer> {
  const answer = await postJson(on, path, body, headers);
  expect(answer.status).toBe(200);
  return (await answer.json()) as PseudonymAnswer;
}

async function verify(body: unknown, on: CaasApp = app): Promise<boolean> {
  const answer = await postJson(on, "/verify", body);
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { match: boolean }).match;
}

async function expectUnauthorized(answer: Response): Promise<void> {
  expect(answer.status).toBe(401);
  expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="caas"');
  expect(answer.headers.get("cache-control")).toBe("no-store");
  // One body for every failure mode: nothing says which one it was.
  expect(await answer.json()).toEqual({ error: { code: "unauthorized", message: "A valid API key is required." } });
}

describe("API keys on /encrypt, /encode and /verify", () => {
  const fields = { userUUID: README_USER, sensitiveData: DATA };
  const failures: readonly [string, unknown, Record<string, string>][] = [
    ["no key anywhere", fields, {}],
    ["an empty apiKey", { apiKey: "", ...fields }, {}],
    ["a wrong apiKey", { apiKey: "wrong-key-0123456789abcdef", ...fields }, {}],
    ["a key that differs by one character", { apiKey: `${STANDARD_KEY.slice(0, -1)}X`, ...fields }, {}],
    ["the key with trailing space", { apiKey: `${STANDARD_KEY} `, ...fields }, {}],
    ["a number apiKey", { apiKey: 12345, ...fields }, {}],
    ["a null apiKey", { apiKey: null, ...fields }, {}],
    ["a boolean apiKey", { apiKey: true, ...fields }, {}],
    ["an array apiKey", { apiKey: [STANDARD_KEY], ...fields }, {}],
    ["an object apiKey", { apiKey: { key: STANDARD_KEY }, ...fields }, {}],
    ["an over-long apiKey", { apiKey: "k".repeat(10_000), ...fields }, {}],
    ["a wrong bearer key", fields, { authorization: "Bearer wrong-key-0123456789abcdef" }],
    ["the key under the Basic scheme", fields, { authorization: `Basic ${STANDARD_KEY}` }],
    ["the key with no scheme", fields, { authorization: STANDARD_KEY }],
    ["Bearer with no key", fields, { authorization: "Bearer " }],
    ["Bearer with two tokens", fields, { authorization: `Bearer ${STANDARD_KEY} ${STANDARD_KEY}` }],
    ["an empty X-API-Key", fields, { "x-api-key": "" }],
    ["a wrong X-API-Key", fields, { "x-api-key": "wrong-key-0123456789abcdef" }],
    ["a valid body key with a wrong header key", { apiKey: STANDARD_KEY, ...fields }, { "x-api-key": "wrong-key-0123456789abcdef" }],
    ["two valid keys that disagree", { apiKey: STANDARD_KEY, ...fields }, { authorization: `Bearer ${OTHER_STANDARD_KEY}` }],
    ["a valid header key with a null apiKey", { apiKey: null, ...fields }, { "x-api-key": STANDARD_KEY }],
    ["a valid X-API-Key with a wrong-scheme Authorization", fields, { "x-api-key": STANDARD_KEY, authorization: "Basic dXNlcjpwYXNz" }],
    // The headers are read once and the body's key joined to what they agreed on: each way they can fail to agree.
    [
      "a valid body key with header keys that disagree",
      { apiKey: STANDARD_KEY, ...fields },
      { authorization: `Bearer ${STANDARD_KEY}`, "x-api-key": OTHER_STANDARD_KEY },
    ],
    ["a valid body key with a wrong-scheme Authorization", { apiKey: STANDARD_KEY, ...fields }, { authorization: "Basic dXNlcjpwYXNz" }],
    ["a number apiKey with a valid header key", { apiKey: 7, ...fields }, { authorization: `Bearer ${STANDARD_KEY}` }],
    ["a key holding a lone surrogate", { apiKey: `${STANDARD_KEY}\ud800`, ...fields }, {}],
  ];

  for (const path of ["/encrypt", "/encode", "/verify"]) {
    for (const [name, body, headers] of failures) {
      const withDigest = path === "/verify" && typeof body === "object" && body !== null ? { ...body, encrypted_data: "00" } : body;
      it(`answers ${path} with 401 for ${name}`, async () => {
        await expectUnauthorized(await postJson(app, path, withDigest, headers));
      });
    }
  }

  it("accepts the key in the body, as a bearer token (any case of the scheme) or in X-API-Key, all alike", async () => {
    const expected = await pseudonym({ apiKey: STANDARD_KEY, ...fields });
    expect(await pseudonym(fields, { authorization: `Bearer ${STANDARD_KEY}` })).toEqual(expected);
    expect(await pseudonym(fields, { authorization: `bearer ${STANDARD_KEY}` })).toEqual(expected);
    expect(await pseudonym(fields, { "x-api-key": STANDARD_KEY })).toEqual(expected);
  });

  it("accepts a key sent in several places when they all agree", async () => {
    const expected = await pseudonym({ apiKey: STANDARD_KEY, ...fields });
    const headers = { authorization: `Bearer ${STANDARD_KEY}`, "x-api-key": STANDARD_KEY };
    expect(await pseudonym({ apiKey: STANDARD_KEY, ...fields }, headers)).toEqual(expected);
  });

  it("answers 401 before any complaint about the rest of the request", async () => {
    const cases: readonly unknown[] = [
      { apiKey: "wrong-key-0123456789abcdef", userUUID: "not-a-uuid", sensitiveData: DATA },
      { apiKey: "wrong-key-0123456789abcdef", userUUID: README_USER },
      { apiKey: "wrong-key-0123456789abcdef", userUUID: README_USER, sensitiveData: DATA, extra: 1 },
      { apiKey: "wrong-key-0123456789abcdef", userUUID: 7, sensitiveData: ["x"] },
      { apiKey: "wrong-key-0123456789abcdef", userUUID: README_USER, sensitiveData: "\ud800" },
      { apiKey: 42 },
      {},
      [],
      '"a JSON string"',
      "null",
    ];
    for (const body of cases) {
      for (const path of ["/encrypt", "/verify"]) await expectUnauthorized(await postJson(app, path, body));
    }
  });

  it("reports an unreadable body before the key, since the key may be inside it", async () => {
    expect((await postJson(app, "/encrypt", "{not json", { "x-api-key": "wrong-key-0123456789abcdef" })).status).toBe(400);
    // Any media type is read as JSON here, as the Django original did (media-types.test.ts); a charset other than UTF-8 is not.
    const wrongType = await app.handle(
      new Request("http://localhost/encrypt", {
        method: "POST",
        headers: { "content-type": "text/plain; charset=iso-8859-1" },
        body: "{}",
      }),
    );
    expect(wrongType.status).toBe(415);
  });
});

describe("POST /encrypt and /encode", () => {
  const body = { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: DATA };

  it("answers the same at /encrypt, /encode and with a trailing slash", async () => {
    const expected = await pseudonym(body);
    expect(expected.encrypted_data).toMatch(/^[0-9a-f]{64,128}$/);
    expect(expected.version).toBe(1);
    for (const path of ["/encode", "/encrypt/", "/encode/"]) expect(await pseudonym(body, {}, path)).toEqual(expected);
  });

  it("answers with Cache-Control: no-store and JSON", async () => {
    const answer = await postJson(app, "/encrypt", body);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("content-type")).toStartWith("application/json");
  });

  it("treats upper- and lower-case spellings of a UUID as one user", async () => {
    const lower = await pseudonym(body);
    expect(await pseudonym({ ...body, userUUID: README_USER.toUpperCase() })).toEqual(lower);
    expect(await pseudonym({ ...body, userUUID: "4DBCbcfe-4800-40A8-badf-C26B73AF230C" })).toEqual(lower);
  });

  it("gives different users and different data different pseudonyms", async () => {
    const base = await pseudonym(body);
    expect((await pseudonym({ ...body, userUUID: "00000000-0000-0000-0000-000000000000" })).encrypted_data).not.toBe(base.encrypted_data);
    expect((await pseudonym({ ...body, sensitiveData: `${DATA}.` })).encrypted_data).not.toBe(base.encrypted_data);
  });

  it("accepts any UUID version, nil and max included, and refuses anything else with 400 invalid_uuid", async () => {
    for (const id of [
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "01890a5d-ac96-774b-bcce-b302099a8057",
    ]) {
      await pseudonym({ ...body, userUUID: id });
    }
    for (const id of [
      "",
      "not-a-uuid",
      "4dbcbcfe48004a8badfc26b73af230c0",
      `{${README_USER}}`,
      `urn:uuid:${README_USER}`,
      ` ${README_USER}`,
      `${README_USER}\n`,
      "4dbcbcfe-4800-40a8-badf-c26b73af230g",
      "4dbcbcfe-4800-40a8-badf-c26b73af230",
    ]) {
      for (const path of ["/encrypt", "/verify"]) {
        const answer = await postJson(
          app,
          path,
          path === "/verify" ? { ...body, userUUID: id, encrypted_data: "00" } : { ...body, userUUID: id },
        );
        expect(answer.status).toBe(400);
        expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_uuid");
      }
    }
  });

  it("refuses data with a lone surrogate with 400 invalid_text", async () => {
    for (const data of ["\ud800", "a\udfffb", "\udc00\ud800"]) {
      const answer = await postJson(app, "/encrypt", { ...body, sensitiveData: data });
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_text");
    }
  });

  it("accepts empty and non-BMP data", async () => {
    await pseudonym({ ...body, sensitiveData: "" });
    await pseudonym({ ...body, sensitiveData: "çà 漢字 🙂" });
  });

  it("refuses missing and non-string fields with 400 invalid_body (one it does not know is ignored, as the original did)", async () => {
    const bad: readonly unknown[] = [
      { apiKey: STANDARD_KEY, userUUID: README_USER },
      { apiKey: STANDARD_KEY, sensitiveData: DATA },
      { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: 5 },
      { apiKey: STANDARD_KEY, userUUID: null, sensitiveData: DATA },
      [STANDARD_KEY],
    ];
    for (const request of bad) {
      const answer = await postJson(app, "/encrypt", request, Array.isArray(request) ? { "x-api-key": STANDARD_KEY } : {});
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_body");
    }
  });

  it("gives one digest to 1,000 concurrent requests for one user", async () => {
    const answers = await Promise.all(Array.from({ length: 1000 }, () => pseudonym(body)));
    expect(new Set(answers.map((answer) => answer.encrypted_data)).size).toBe(1);
  });

  it("depends on the secret: another secret, another digest", async () => {
    const other = appWith().app;
    expect((await pseudonym(body, {}, "/encrypt", other)).encrypted_data).not.toBe((await pseudonym(body)).encrypted_data);
  });

  it("is the same for two keys of the standard profile (the pseudonym is the user's, not the caller's)", async () => {
    const first = await pseudonym(body);
    expect(await pseudonym({ ...body, apiKey: OTHER_STANDARD_KEY })).toEqual(first);
  });
});

describe("POST /verify", () => {
  const fields = { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: DATA };

  it("matches a real pseudonym, in either case of hex, at /verify and /verify/", async () => {
    const { encrypted_data } = await pseudonym(fields);
    expect(await verify({ ...fields, encrypted_data })).toBe(true);
    expect(await verify({ ...fields, userUUID: README_USER.toUpperCase(), encrypted_data: encrypted_data.toUpperCase() })).toBe(true);
    const slash = await postJson(app, "/verify/", { ...fields, encrypted_data });
    expect(await slash.json()).toEqual({ match: true });
  });

  it("does not match a wrong digest, other data, another user, or text that is not hex, at every digest length", async () => {
    // A user's digest length depends on the algorithm this run's random secret picks for them:
    // find users of all three lengths, so no assertion holds only for the length one user got.
    const byLength = new Map<number, string>();
    while (byLength.size < 3) {
      const userUUID = crypto.randomUUID();
      const { encrypted_data } = await pseudonym({ ...fields, userUUID });
      if (!byLength.has(encrypted_data.length)) byLength.set(encrypted_data.length, userUUID);
    }
    expect([...byLength.keys()].sort()).toEqual([128, 64, 96]);
    for (const userUUID of byLength.values()) {
      const user = { ...fields, userUUID };
      const { encrypted_data } = await pseudonym(user);
      const flipped = (encrypted_data.startsWith("0") ? "1" : "0") + encrypted_data.slice(1);
      expect(await verify({ ...user, encrypted_data: flipped })).toBe(false);
      expect(await verify({ ...user, encrypted_data: encrypted_data.slice(0, -2) })).toBe(false);
      expect(await verify({ ...user, sensitiveData: "other", encrypted_data })).toBe(false);
      expect(await verify({ ...user, userUUID: "00000000-0000-0000-0000-000000000000", encrypted_data })).toBe(false);
      // A trailing space within the 128-character bound (a 512-bit digest is 128 characters already).
      for (const text of ["", "zz", "0", `${encrypted_data.slice(0, -1)} `, "\ud800"])
        expect(await verify({ ...user, encrypted_data: text })).toBe(false);
    }
  });

  it("still matches a pseudonym made under the previous secret version after a rotation", async () => {
    const first = newSecretVersion(1);
    const { app: rotating, credentials } = appWith([first]);
    const before = await pseudonym(fields, {}, "/encrypt", rotating);
    expect(before.version).toBe(1);

    const second = newSecretVersion(2);
    credentials.replace({ apiKeys: keys(), secrets: makeSecretRing([first, second]) });
    const after = await pseudonym(fields, {}, "/encrypt", rotating);
    expect(after.version).toBe(2);
    expect(after.encrypted_data).not.toBe(before.encrypted_data);
    expect(await verify({ ...fields, encrypted_data: before.encrypted_data }, rotating)).toBe(true);
    expect(await verify({ ...fields, encrypted_data: after.encrypted_data }, rotating)).toBe(true);

    // Once version 1 is retired (caas secret retire) or dropped from the file, its pseudonyms no longer verify.
    credentials.replace({ apiKeys: keys(), secrets: makeSecretRing([{ ...first, retired: new Date().toISOString() }, second]) });
    expect(await verify({ ...fields, encrypted_data: before.encrypted_data }, rotating)).toBe(false);
    expect(await verify({ ...fields, encrypted_data: after.encrypted_data }, rotating)).toBe(true);
    expect((await pseudonym(fields, {}, "/encrypt", rotating)).encrypted_data).toBe(after.encrypted_data);
    credentials.replace({ apiKeys: keys(), secrets: makeSecretRing([second]) });
    expect(await verify({ ...fields, encrypted_data: before.encrypted_data }, rotating)).toBe(false);
  });

  it("picks up a reloaded key store on the next request", async () => {
    const { app: reloading, credentials } = appWith();
    const added = "added-after-start-0123456789";
    await expectUnauthorized(await postJson(reloading, "/encrypt", { ...fields, apiKey: added }));
    credentials.replace({
      apiKeys: ApiKeyStore.fromKeys([{ name: "added", key: added }]),
      secrets: credentials.current.secrets,
    });
    await pseudonym({ ...fields, apiKey: added }, {}, "/encrypt", reloading);
    await expectUnauthorized(await postJson(reloading, "/encrypt", fields));
  });
});

describe("errors never echo the request", () => {
  const CANARY = "CANARY-7f3a9c1e-echo";
  const CANARY_UUID = "CANARY-7f3a9c1e-echo-0000-000000000000";

  const requests: readonly [string, string, unknown, Record<string, string>][] = [
    ["/encrypt", "a canary key", { apiKey: CANARY, userUUID: CANARY, sensitiveData: CANARY }, {}],
    ["/verify", "a canary key", { apiKey: CANARY, userUUID: CANARY, sensitiveData: CANARY, encrypted_data: CANARY }, {}],
    ["/encrypt", "a canary bearer key", { userUUID: CANARY, sensitiveData: CANARY }, { authorization: `Bearer ${CANARY}` }],
    ["/encrypt", "a canary X-API-Key", { userUUID: CANARY, sensitiveData: CANARY }, { "x-api-key": CANARY }],
    ["/encrypt", "a canary user id", { apiKey: STANDARD_KEY, userUUID: CANARY_UUID, sensitiveData: CANARY }, {}],
    ["/verify", "a canary user id", { apiKey: STANDARD_KEY, userUUID: CANARY_UUID, sensitiveData: CANARY, encrypted_data: CANARY }, {}],
    [
      "/encrypt",
      "canary data with a lone surrogate",
      { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: `${CANARY}\ud800` },
      {},
    ],
    [
      "/encrypt",
      "compat canary data with a lone surrogate",
      { apiKey: COMPAT_KEY, userUUID: CANARY, sensitiveData: `${CANARY}\ud800` },
      {},
    ],
    [
      "/verify",
      "a canary field name",
      { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: CANARY, encrypted_data: "00", [CANARY]: CANARY },
      {},
    ],
    [
      "/encrypt",
      "a canary in a wrongly typed field",
      { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: { [CANARY]: CANARY } },
      {},
    ],
    [
      "/verify",
      "a canary in a wrongly typed digest",
      { apiKey: STANDARD_KEY, userUUID: README_USER, sensitiveData: CANARY, encrypted_data: [CANARY] },
      {},
    ],
    ["/encrypt", "a canary in a wrongly typed id", { apiKey: STANDARD_KEY, userUUID: [CANARY], sensitiveData: CANARY }, {}],
    ["/encrypt", "canary JSON that does not parse", `{"apiKey":"${STANDARD_KEY}","userUUID":"${CANARY}",`, {}],
  ];

  for (const [path, name, body, headers] of requests) {
    it(`does not echo ${name} on ${path}`, async () => {
      const answer = await postJson(app, path, body, headers);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      const text = await answer.text();
      expect(text).not.toContain("CANARY");
      for (const [header, value] of answer.headers) expect(`${header}: ${value}`).not.toContain("CANARY");
    });
  }
});

describe("the bound on /verify's encrypted_data", () => {
  it("is the longest pseudonym either profile makes: every pool digest and every one of the original's fits, and the longest is exactly at it", async () => {
    const { VerifyRequest } = await import("../../src/modules/pseudonym/model.ts");
    const { DIGEST_BYTES } = await import("../../src/crypto/hash.ts");
    const { default: vectors } = await import("../vectors/compat/django-caas-vectors.json");
    const bound = VerifyRequest.properties.encrypted_data.maxLength;
    const lengths = [...Object.values(DIGEST_BYTES).map((bytes) => 2 * bytes), ...vectors.map((vector) => vector.encrypted_data.length)];
    expect(bound).toBe(Math.max(...lengths));
  });

  it("refuses one character more than the bound with 400 invalid_body, before any digest is made", async () => {
    const digest = "a".repeat(129);
    const answer = await postJson(app, "/verify", {
      apiKey: STANDARD_KEY,
      userUUID: README_USER,
      sensitiveData: DATA,
      encrypted_data: digest,
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_body");
  });
});
