/**
 * What an unchanged client of the two originals sends, on every route of theirs caas serves
 * (the Flask oracle's /oracleinvocation, the Django CaaS's /encrypt and /encode, each with and
 * without a trailing slash): fields the original ignored, a UTF-8 byte order mark, every media
 * type the original read, and a body as large as the Django original took. Each gets the answer
 * it got before: the original's digest, or a box that opens to the text. And where ignoring a
 * field could hand back a key in clear (a misspelt wrap_with), caas refuses it; caas's own
 * routes refuse every unknown field.
 */
import { type CipherGCMTypes, createDecipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "bun:test";
import { SEAL_UNKNOWN_FIELDS } from "../../src/modules/oracle/model.ts";
import { djangoDigest } from "../../src/modules/pseudonym/profiles/django-compat/derivation.ts";
import { CIPHERTEXTS, FULL_KEY, fixtureApp, KEY_NAME, MAC_NAME, SEALED, SIGNATURES, SIGNER_NAME } from "../openapi/fixture.ts";
import { type CaasApp, testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const COMPAT_KEY = "example_api_key";
const DJANGO_REQUEST = { apiKey: COMPAT_KEY, userUUID: README_USER, sensitiveData: "example sensitive data" };
const README_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";
const TEXT = "attack at dawn ✓";

const django = testApp({ apiKeys: [{ name: "legacy", key: COMPAT_KEY, profile: "django-compat" }] });
const fixture = fixtureApp({ config: { maxBody: 1024 * 1024 } });

const ORACLE_PATHS = ["/oracleinvocation", "/oracleinvocation/"];
const DJANGO_PATHS = ["/encrypt", "/encrypt/", "/encode", "/encode/"];
const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);

interface Box {
  readonly data: string;
  readonly key: string;
  readonly mac: string;
  readonly nonce: string;
}

function send(app: CaasApp, path: string, body: string | Uint8Array, contentType: string | null = "application/json"): Promise<Response> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return app.handle(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: contentType === null ? {} : { "content-type": contentType },
      body: new Blob([bytes]),
    }),
  );
}

async function answerOf(answer: Response): Promise<{ status: number; json: unknown }> {
  return { status: answer.status, json: await answer.json() };
}

/** Opens a box as the Flask original's client does: the key, nonce, ciphertext and tag, and no aad. */
function openAsTheOriginal(box: Box): string {
  const key = Buffer.from(box.key, "base64");
  const decipher = createDecipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, Buffer.from(box.nonce, "base64"));
  decipher.setAuthTag(Buffer.from(box.mac, "base64"));
  return Buffer.concat([decipher.update(Buffer.from(box.data, "base64")), decipher.final()]).toString("utf8");
}

/** A box from the oracle, opened as the original's client would; the status and error otherwise. */
async function sealed(answer: Response): Promise<unknown> {
  const json = (await answer.json()) as Box & { error?: unknown };
  if (answer.status !== 200) return { status: answer.status, json };
  expect(Object.keys(json).sort()).toEqual(["data", "key", "mac", "nonce"]);
  return { opened: openAsTheOriginal(json) };
}

/** What a client that forwards whole objects adds: every JSON type, and names that mean something to JavaScript. */
const FORWARDED = {
  id: 7,
  timestamp: 1,
  user: { name: "x", roles: ["a"] },
  tags: [],
  note: null,
  active: true,
  constructor: "x",
  toString: 1,
  key: "not a key",
  version: 2,
};

describe("fields the original ignored, on every route of the originals", () => {
  it("keeps the differential run's forms working: {data, id} on the oracle, {apiKey, ..., timestamp} on the Django routes", async () => {
    for (const path of ORACLE_PATHS) {
      expect({ path, got: await sealed(await send(fixture, path, JSON.stringify({ data: TEXT, id: 7 }))) }).toEqual({
        path,
        got: { opened: TEXT },
      });
    }
    for (const path of DJANGO_PATHS) {
      expect({ path, got: await answerOf(await send(django, path, JSON.stringify({ ...DJANGO_REQUEST, timestamp: 1 }))) }).toEqual({
        path,
        got: { status: 200, json: { encrypted_data: README_DIGEST } },
      });
    }
  });

  it("ignores any number of them, of any JSON type, __proto__ included", async () => {
    const withProto = (fields: object) => `${JSON.stringify({ ...fields, ...FORWARDED }).slice(0, -1)},"__proto__":{"polluted":1}}`;
    for (const path of ORACLE_PATHS) {
      expect({ path, got: await sealed(await send(fixture, path, withProto({ data: TEXT }))) }).toEqual({ path, got: { opened: TEXT } });
    }
    for (const path of DJANGO_PATHS) {
      expect({ path, got: await answerOf(await send(django, path, withProto(DJANGO_REQUEST))) }).toEqual({
        path,
        got: { status: 200, json: { encrypted_data: README_DIGEST } },
      });
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("still refuses a wrongly typed or missing field of the original's, whatever else is sent", async () => {
    for (const path of ORACLE_PATHS) {
      expect((await send(fixture, path, JSON.stringify({ data: 1, id: 7 }))).status).toBe(400);
      expect((await send(fixture, path, JSON.stringify({ id: 7 }))).status).toBe(400);
    }
    for (const path of DJANGO_PATHS) {
      expect((await send(django, path, JSON.stringify({ ...DJANGO_REQUEST, sensitiveData: 1, id: 7 }))).status).toBe(400);
      expect((await send(django, path, JSON.stringify({ apiKey: COMPAT_KEY, userUUID: README_USER, id: 7 }))).status).toBe(400);
    }
  });
});

describe("the caas options on the originals' routes", () => {
  /** The fields each original read (the Flask oracle's README and code; the Django README's request body). */
  const ORIGINAL_FIELDS: Readonly<Record<string, readonly string[]>> = {
    "/oracleinvocation": ["data"],
    "/encrypt": ["apiKey", "sensitiveData", "userUUID"],
    "/encode": ["apiKey", "sensitiveData", "userUUID"],
  };

  it("are aad and wrap_with on the oracle, which the rule guards, and none on the Django routes", () => {
    const routes = fixture.routes.filter((route) => route.method === "POST" && route.path in ORIGINAL_FIELDS);
    expect(routes.map((route) => route.path).sort()).toEqual(Object.keys(ORIGINAL_FIELDS).sort());
    for (const route of routes) {
      const schema = route.hooks.body as { properties: Record<string, unknown> };
      expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining([...(ORIGINAL_FIELDS[route.path] ?? [])]));
      const options = Object.keys(schema.properties).filter((field) => !ORIGINAL_FIELDS[route.path]?.includes(field));
      // A new caas option on an original's route must join its rule, or a misspelling of it would be dropped.
      expect({ path: route.path, options: options.sort() }).toEqual({
        path: route.path,
        options: route.path === "/oracleinvocation" ? SEAL_UNKNOWN_FIELDS.options.map((option) => option.name).sort() : [],
      });
    }
  });
});

describe("a misspelt caas option on the oracle", () => {
  /** Names a client meant as aad or wrap_with: refused, so the option is never silently dropped. */
  const LOOKALIKES = [
    "add",
    "AAD",
    "Aad",
    "aad_",
    "a-a-d",
    "aead",
    "ad",
    "x_aad",
    "wrapWith",
    "WrapWith",
    "wrap-with",
    "WRAP_WITH",
    "wrap with",
    "wrap_wiht",
    "warp_with",
    "wrp_with",
    "wrap_wth",
    "wrapped_with",
    "wrap_key",
    "wrapped_key",
    "wrap",
    "unwrap",
    "envelope",
    "Envelope_Key",
  ];
  const LOOKALIKE_MESSAGE =
    /^A field looks like a misspelling of (aad|wrap_with), so it is refused rather than ignored; see \/swagger for the schema\.$/;
  /** Names nothing like either: ignored, as the original ignored them. */
  const UNRELATED = ["id", "timestamp", "apiKey", "userUUID", "key", "nonce", "mac", "tag", "at", "with", "name", "data2", "metadata"];

  it("is refused (400 invalid_body) on every route of the original, named by the option and never by the field", async () => {
    for (const path of ORACLE_PATHS) {
      for (const name of LOOKALIKES) {
        const answer = await answerOf(await send(fixture, path, JSON.stringify({ data: TEXT, [name]: KEY_NAME })));
        expect({ path, name, answer }).toEqual({
          path,
          name,
          // The whole message is caas's own sentence: nothing of the field's name in it.
          answer: { status: 400, json: { error: { code: "invalid_body", message: expect.stringMatching(LOOKALIKE_MESSAGE) } } },
        });
      }
    }
  });

  it("never hands back the key in clear for a wrap_with written another way, with a key that may use envelope mode", async () => {
    for (const name of LOOKALIKES.filter((candidate) => /w|envelope/i.test(candidate))) {
      const answer = await send(fixture, "/oracleinvocation", JSON.stringify({ data: TEXT, [name]: KEY_NAME }), "application/json");
      const text = await answer.text();
      expect({ name, status: answer.status, handsBackKey: text.includes('"key"') }).toEqual({ name, status: 400, handsBackKey: false });
    }
  });

  it("names the option it resembles", async () => {
    const messageOf = async (body: object) =>
      ((await (await send(fixture, "/oracleinvocation", JSON.stringify(body))).json()) as { error: { message: string } }).error.message;
    expect(await messageOf({ data: TEXT, add: "x" })).toContain("aad");
    expect(await messageOf({ data: TEXT, wrapWith: "x" })).toContain("wrap_with");
  });

  it("lets names nothing like a caas option through, as the original did", async () => {
    for (const name of UNRELATED) {
      expect({ name, got: await sealed(await send(fixture, "/oracleinvocation", JSON.stringify({ data: TEXT, [name]: "x" }))) }).toEqual({
        name,
        got: { opened: TEXT },
      });
    }
  });

  it("refuses every unknown field beside aad or wrap_with, which the original did not have", async () => {
    for (const path of ORACLE_PATHS) {
      for (const name of ["id", "timestamp", "note"]) {
        const withAad = await answerOf(await send(fixture, path, JSON.stringify({ data: TEXT, aad: "order-42", [name]: 1 })));
        expect({ path, name, withAad: withAad.status }).toEqual({ path, name, withAad: 400 });
        const envelope = await fixture.handle(
          new Request(`http://localhost${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-key": FULL_KEY },
            body: JSON.stringify({ data: TEXT, wrap_with: KEY_NAME, [name]: 1 }),
          }),
        );
        const text = await envelope.text();
        expect({ path, name, envelope: envelope.status, handsBackKey: text.includes('"key"') }).toEqual({
          path,
          name,
          envelope: 400,
          handsBackKey: false,
        });
      }
    }
  });

  it("keeps envelope mode, spelt right, answering with the key only wrapped", async () => {
    const answer = await fixture.handle(
      new Request("http://localhost/oracleinvocation/", {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": FULL_KEY },
        body: JSON.stringify({ data: TEXT, wrap_with: KEY_NAME }),
      }),
    );
    expect(answer.status).toBe(200);
    expect(Object.keys((await answer.json()) as object).sort()).toEqual(["data", "mac", "nonce", "wrapped_key"]);
  });
});

describe("caas's own routes", () => {
  /** A body each route accepts; every POST route the app serves that is not an original's is here (checked below). */
  const VALID: Readonly<Record<string, object>> = {
    "/oracleinvocation/batch": { items: [{ data: TEXT }] },
    "/oracleinvocation/decrypt": { ...SEALED, aad: "order-42" },
    "/encrypt/batch": { items: [{ userUUID: README_USER, sensitiveData: "x" }] },
    "/verify": { userUUID: README_USER, sensitiveData: "x", encrypted_data: "00" },
    "/keyring/:name/encrypt": { data: TEXT },
    "/keyring/:name/encrypt/batch": { items: [{ data: TEXT }] },
    "/keyring/:name/decrypt": { ciphertext: CIPHERTEXTS.current, aad: "order-42" },
    "/keyring/:name/decrypt/batch": { items: [{ ciphertext: CIPHERTEXTS.current, aad: "order-42" }] },
    "/keyring/:name/rewrap": { ciphertext: CIPHERTEXTS.current, aad: "order-42" },
    "/keyring/:name/rewrap/batch": { items: [{ ciphertext: CIPHERTEXTS.current, aad: "order-42" }] },
    "/keyring/:name/datakey": {},
    "/keyring/:name/sign": { data: TEXT },
    "/keyring/:name/sign/batch": { items: [{ data: TEXT }] },
    "/keyring/:name/hmac": { data: TEXT },
    "/keyring/:name/hmac/batch": { items: [{ data: TEXT }] },
    "/keyring/:name/verify": { data: "order 42 shipped", signature: SIGNATURES.current },
    "/keyring/:name/verify/batch": { items: [{ data: "order 42 shipped", signature: SIGNATURES.current }] },
    "/keyring/:name/jwt": { claims: { sub: "user-42" } },
    "/keyring/:name/jwt/verify": { token: "a.b.c" },
  };
  /** The key each route is asked of: one of the type that does it. */
  const keyOf = (route: string) => (route.includes("/hmac") ? MAC_NAME : /\/(sign|verify|jwt)/.test(route) ? SIGNER_NAME : KEY_NAME);

  const post = (route: string, body: object) =>
    fixture.handle(
      new Request(`http://localhost${route.replace(":name", keyOf(route))}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": FULL_KEY },
        body: JSON.stringify(body),
      }),
    );

  it("are every POST route but the originals'", () => {
    const originals = new Set(["/oracleinvocation", "/encrypt", "/encode"]);
    const routes = fixture.routes.filter((route) => route.method === "POST" && !originals.has(route.path)).map((route) => route.path);
    expect(routes.sort()).toEqual(Object.keys(VALID).sort());
  });

  for (const [route, body] of Object.entries(VALID)) {
    it(`${route} keeps refusing a field it does not know, beside a body it accepts`, async () => {
      expect((await post(route, body)).status).toBe(200);
      expect(await answerOf(await post(route, { ...body, id: 7 }))).toEqual({
        status: 400,
        json: { error: { code: "invalid_body", message: expect.any(String) } },
      });
    });
  }
});

describe("a UTF-8 byte order mark before the JSON", () => {
  const withBom = (text: string) => Uint8Array.from([...BOM, ...new TextEncoder().encode(text)]);

  it("is skipped on every route of the originals, as Python's json.loads skipped it", async () => {
    for (const path of ORACLE_PATHS) {
      expect({ path, got: await sealed(await send(fixture, path, withBom(JSON.stringify({ data: TEXT })))) }).toEqual({
        path,
        got: { opened: TEXT },
      });
    }
    for (const path of DJANGO_PATHS) {
      for (const contentType of ["application/json", null, "application/x-www-form-urlencoded"]) {
        expect({
          path,
          contentType,
          got: await answerOf(await send(django, path, withBom(JSON.stringify(DJANGO_REQUEST)), contentType)),
        }).toEqual({
          path,
          contentType,
          got: { status: 200, json: { encrypted_data: README_DIGEST } },
        });
      }
    }
  });

  it("is skipped on every other POST route too, once: a second one is not JSON", async () => {
    for (const route of fixture.routes.filter((candidate) => candidate.method === "POST")) {
      const path = route.path.replace(":name", KEY_NAME);
      // An array is JSON no route takes: read past the mark, it is the schema's to refuse.
      const once = await answerOf(await send(fixture, path, withBom("[]")));
      const twice = await answerOf(await send(fixture, path, Uint8Array.from([...BOM, ...withBom("[]")])));
      expect({ path, once: (once.json as { error: { code: string } }).error.code, twice: twice.json }).toEqual({
        path,
        once: expect.not.stringMatching(/^invalid_json$/),
        twice: { error: { code: "invalid_json", message: expect.any(String) } },
      });
    }
  });
});

describe("every media type the originals read", () => {
  /** What Flask's request.get_json() read: application/json and application/*+json, any charset spelling of UTF-8. */
  const FLASK_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF8",
    'application/json; charset="UTF-8"',
    "APPLICATION/JSON;CHARSET=UTF-8",
    "application/vnd.api+json",
    "application/problem+json; charset=utf-8",
  ];
  /** What the differential run found the Django original read (it json.loads()-ed any body), and what its clients send. */
  const DJANGO_TYPES = [
    ...FLASK_TYPES,
    "text/json",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/plain; charset=utf8",
    "",
    null,
  ];

  it("is read on the Flask original's route, and the answer opens", async () => {
    for (const path of ORACLE_PATHS) {
      for (const contentType of FLASK_TYPES) {
        expect({ path, contentType, got: await sealed(await send(fixture, path, JSON.stringify({ data: TEXT }), contentType)) }).toEqual({
          path,
          contentType,
          got: { opened: TEXT },
        });
      }
    }
  });

  it("is read on the Django original's routes, with the original's digest", async () => {
    for (const path of DJANGO_PATHS) {
      for (const contentType of DJANGO_TYPES) {
        expect({ path, contentType, got: await answerOf(await send(django, path, JSON.stringify(DJANGO_REQUEST), contentType)) }).toEqual({
          path,
          contentType,
          got: { status: 200, json: { encrypted_data: README_DIGEST } },
        });
      }
    }
  });

  it("except a charset other than UTF-8, refused on every route of the originals with a message that says UTF-8", async () => {
    for (const [app, paths, body] of [
      [fixture, ORACLE_PATHS, { data: TEXT }],
      [django, DJANGO_PATHS, DJANGO_REQUEST],
    ] as const) {
      for (const path of paths) {
        for (const contentType of [
          "application/json; charset=iso-8859-1",
          "application/json; charset=utf-16",
          "application/json; charset=ascii",
        ]) {
          const answer = await answerOf(await send(app, path, JSON.stringify(body), contentType));
          expect({ path, contentType, answer }).toEqual({
            path,
            contentType,
            answer: { status: 415, json: { error: { code: "unsupported_media_type", message: expect.stringContaining("UTF-8 only") } } },
          });
        }
      }
    }
  });
});

describe("docs/migrating.md", () => {
  const migrating = readFileSync(new URL("../../docs/migrating.md", import.meta.url), "utf8");
  const DJANGO_LARGEST_BODY = 2_621_440;

  it("gives the CAAS_MAX_BODY that takes the Django original's largest body, and with it that body gets the original's digest", async () => {
    const setting = /`CAAS_MAX_BODY=(\d+)`/.exec(migrating);
    expect(setting).not.toBeNull();
    const maxBody = Number(setting?.[1]);
    expect(maxBody).toBeGreaterThanOrEqual(DJANGO_LARGEST_BODY);
    const envelope = JSON.stringify({ ...DJANGO_REQUEST, sensitiveData: "" });
    const room = DJANGO_LARGEST_BODY - Buffer.byteLength(envelope);
    const data = "é".repeat(Math.floor(room / 2)) + "x".repeat(room % 2);
    const body = JSON.stringify({ ...DJANGO_REQUEST, sensitiveData: data });
    expect(Buffer.byteLength(body)).toBe(DJANGO_LARGEST_BODY);
    const large = testApp({
      apiKeys: [{ name: "legacy", key: COMPAT_KEY, profile: "django-compat" }],
      config: { maxBody },
    });
    expect(await answerOf(await send(large, "/encode", body))).toEqual({
      status: 200,
      json: { encrypted_data: djangoDigest(README_USER, data) },
    });
    // And by default it is refused, which is why the setting is there.
    expect((await send(django, "/encode", body)).status).toBe(413);
  });

  it("warns Flask clients that send aad that the original's decoder cannot open the answer, and caas refuses it without", async () => {
    const flask = migrating.slice(migrating.indexOf("## From the Flask"), migrating.indexOf("## From the Django"));
    expect(flask).toMatch(/`aad`[\s\S]*decrypt_and_verify[\s\S]*cipher\.update\(aad\)/);
    const box = (await (await send(fixture, "/oracleinvocation", JSON.stringify({ data: TEXT, aad: "order-42" }))).json()) as Box;
    expect(() => openAsTheOriginal(box)).toThrow();
  });

  it("states the rule for fields caas does not know, with each caas option of the originals' routes", () => {
    const section = migrating.slice(migrating.indexOf("## Requests as the originals read them"));
    for (const claim of ["`aad`", "`wrap_with`", "ignored", "refused", "byte order mark", "`application/*+json`", "UTF-8"]) {
      expect({ claim, stated: section.includes(claim) }).toEqual({ claim, stated: true });
    }
  });
});
