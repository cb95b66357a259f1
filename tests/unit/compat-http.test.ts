/**
 * The django-compat profile through the whole app: a key on that profile gets the Django
 * original's digests (all 201 of its vectors, over app.handle), a standard key never does, and
 * the server warns at start about every compat key, by name only.
 */
import { describe, expect, it } from "bun:test";
import { scratchDirectories } from "./scratch.ts";
import { join } from "node:path";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { importKey } from "../../src/credentials/key-changes.ts";
import { defaultConfig } from "../../src/config.ts";
import { loadCredentials } from "../../src/credentials/holder.ts";
import { createLogger } from "../../src/log.ts";
import { djangoDigest } from "../../src/modules/pseudonym/profiles/django-compat/derivation.ts";
import { initSecretFile } from "../../src/credentials/secret-ring.ts";
import vectors from "../vectors/compat/django-caas-vectors.json";
import { type CaasApp, postJson, testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

const COMPAT_KEY = "compat-key-for-tests-0123456789";
const STANDARD_KEY = "standard-key-for-tests-0123456789";
const README_KEY = "example_api_key";
const README_REQUEST = {
  apiKey: README_KEY,
  userUUID: README_USER,
  sensitiveData: "example sensitive data",
};
const README_DIGEST = "35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1";

const app = testApp({
  apiKeys: [
    { name: "legacy", key: COMPAT_KEY, profile: "django-compat" },
    { name: "main-server", key: STANDARD_KEY },
  ],
});

interface PseudonymAnswer {
  encrypted_data: string;
  /** A standard key's answers only: the original's carry no version. */
  version?: number;
}

async function pseudonym(body: unknown, path = "/encode", on: CaasApp = app): Promise<PseudonymAnswer> {
  const answer = await postJson(on, path, body);
  expect(answer.status).toBe(200);
  return (await answer.json()) as PseudonymAnswer;
}

async function verify(body: unknown): Promise<boolean> {
  const answer = await postJson(app, "/verify", body);
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { match: boolean }).match;
}

const temporaryDirectory = scratchDirectories("caas-compat-http-");

describe("a django-compat key gets the Django original's digests", () => {
  it("gives all 201 of the original's vectors over /encode, in the original's answer shape (no version)", async () => {
    expect(vectors).toHaveLength(201);
    for (const vector of vectors) {
      const answer = await pseudonym({ apiKey: COMPAT_KEY, userUUID: vector.userUUID, sensitiveData: vector.sensitiveData });
      expect(answer).toEqual({ encrypted_data: vector.encrypted_data });
    }
  });

  it("verifies all 201 vectors, and refuses each with its last digit changed", async () => {
    for (const vector of vectors) {
      const fields = { apiKey: COMPAT_KEY, userUUID: vector.userUUID, sensitiveData: vector.sensitiveData };
      expect(await verify({ ...fields, encrypted_data: vector.encrypted_data })).toBe(true);
      expect(await verify({ ...fields, encrypted_data: vector.encrypted_data.toUpperCase() })).toBe(true);
      const changed = vector.encrypted_data.slice(0, -1) + (vector.encrypted_data.endsWith("0") ? "1" : "0");
      expect(await verify({ ...fields, encrypted_data: changed })).toBe(false);
    }
  });

  it("answers alike at /encrypt, /encode and with a trailing slash", async () => {
    const body = { ...README_REQUEST, apiKey: COMPAT_KEY };
    for (const path of ["/encrypt", "/encode", "/encrypt/", "/encode/"]) {
      expect(await pseudonym(body, path)).toEqual({ encrypted_data: README_DIGEST });
    }
  });

  it("accepts any string as the user id, as the original did", async () => {
    for (const id of ["user-42", "", "not a uuid at all", "ünïcödé 🙂", "\ud800lone", "x".repeat(2000)]) {
      const answer = await pseudonym({ apiKey: COMPAT_KEY, userUUID: id, sensitiveData: "data" });
      expect(answer.encrypted_data).toBe(djangoDigest(id, "data"));
    }
  });

  it("does not case-fold the user id: an upper-case UUID is its own user, as in the original", async () => {
    const upperCase = vectors.filter((vector) => vector.userUUID !== vector.userUUID.toLowerCase());
    expect(upperCase.length).toBeGreaterThan(0);
    const lowered = await Promise.all(
      upperCase.map((vector) =>
        pseudonym({ apiKey: COMPAT_KEY, userUUID: vector.userUUID.toLowerCase(), sensitiveData: vector.sensitiveData }),
      ),
    );
    for (const [index, vector] of upperCase.entries()) {
      expect(lowered[index]?.encrypted_data).toBe(djangoDigest(vector.userUUID.toLowerCase(), vector.sensitiveData));
    }
    expect(lowered.some((answer, index) => answer.encrypted_data !== upperCase[index]?.encrypted_data)).toBe(true);
  });

  it("refuses data with a lone surrogate with 400 invalid_text, as the original could not encode it", async () => {
    const answer = await postJson(app, "/encode", { apiKey: COMPAT_KEY, userUUID: "user-42", sensitiveData: "a\udc00" });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_text");
    const verifying = await postJson(app, "/verify", {
      apiKey: COMPAT_KEY,
      userUUID: "user-42",
      sensitiveData: "a\udc00",
      encrypted_data: "00",
    });
    expect(verifying.status).toBe(400);
  });

  it("gives the right digest to 1,000 concurrent requests for one user (the original did not)", async () => {
    const body = { ...README_REQUEST, apiKey: COMPAT_KEY };
    const answers = await Promise.all(Array.from({ length: 1000 }, () => pseudonym(body)));
    for (const answer of answers) expect(answer.encrypted_data).toBe(README_DIGEST);
  });

  it("gives every user their own right digest when all 201 vectors arrive at once, five times over", async () => {
    const requests = Array.from({ length: 5 }, () => vectors).flat();
    const answers = await Promise.all(
      requests.map((vector) => pseudonym({ apiKey: COMPAT_KEY, userUUID: vector.userUUID, sensitiveData: vector.sensitiveData })),
    );
    for (const [index, vector] of requests.entries()) expect(answers[index]?.encrypted_data).toBe(vector.encrypted_data);
  });
});

describe("the profiles never cross", () => {
  it("never gives a standard key a compat digest, nor a 128- or 160-bit one", async () => {
    for (const vector of vectors) {
      const answer = await pseudonym({ apiKey: STANDARD_KEY, userUUID: vector.userUUID, sensitiveData: vector.sensitiveData });
      expect(answer.encrypted_data).not.toBe(vector.encrypted_data);
      expect([64, 96, 128]).toContain(answer.encrypted_data.length);
      expect(answer.version).toBe(1);
    }
  });

  it("never gives a compat key a standard digest", async () => {
    for (const vector of vectors.slice(0, 40)) {
      const fields = { userUUID: vector.userUUID, sensitiveData: vector.sensitiveData };
      const standard = await pseudonym({ apiKey: STANDARD_KEY, ...fields });
      const compat = await pseudonym({ apiKey: COMPAT_KEY, ...fields });
      expect(compat.encrypted_data).not.toBe(standard.encrypted_data);
    }
  });

  it("verifies each profile's digest only under its own profile", async () => {
    const fields = { userUUID: README_REQUEST.userUUID, sensitiveData: README_REQUEST.sensitiveData };
    const standard = await pseudonym({ apiKey: STANDARD_KEY, ...fields });
    expect(await verify({ apiKey: STANDARD_KEY, ...fields, encrypted_data: README_DIGEST })).toBe(false);
    expect(await verify({ apiKey: COMPAT_KEY, ...fields, encrypted_data: standard.encrypted_data })).toBe(false);
    expect(await verify({ apiKey: STANDARD_KEY, ...fields, encrypted_data: standard.encrypted_data })).toBe(true);
    expect(await verify({ apiKey: COMPAT_KEY, ...fields, encrypted_data: README_DIGEST })).toBe(true);
  });

  it("still requires a UUID from a standard key for ids the compat profile accepts", async () => {
    const answer = await postJson(app, "/encrypt", { apiKey: STANDARD_KEY, userUUID: "user-42", sensitiveData: "data" });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("invalid_uuid");
  });
});

describe("the Django original's README example", () => {
  it("works unchanged once its key is imported with the django-compat profile", async () => {
    const path = join(await temporaryDirectory(), "keys.json");
    await importKey(path, { name: "django-main", key: README_KEY, profile: "django-compat" });
    const imported = testApp({ apiKeys: await ApiKeyStore.load(path) });
    const answer = await postJson(imported, "/encrypt", README_REQUEST);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ encrypted_data: README_DIGEST });
  });

  it("takes a compat key of any length from one character, but still only printable ASCII without spaces", async () => {
    const path = join(await temporaryDirectory(), "keys.json");
    await importKey(path, { name: "tiny", key: "x", profile: "django-compat" });
    expect((await ApiKeyStore.load(path)).lookup("x")).toEqual({
      name: "tiny",
      profile: "django-compat",
      created: expect.any(String),
      scopes: [{ to: "pseudonym" }],
    });
    for (const key of ["", "has space", "tab\there", "é"]) {
      await expect(importKey(path, { name: "bad", key, profile: "django-compat" })).rejects.toMatchObject({ code: "invalid_key_argument" });
    }
  });

  it("cannot be imported as a standard key: a standard key must be at least 16 characters", async () => {
    const path = join(await temporaryDirectory(), "keys.json");
    await expect(importKey(path, { name: "django-main", key: README_KEY, profile: "standard" })).rejects.toMatchObject({
      code: "invalid_key_argument",
    });
  });
});

describe("at start", () => {
  it("warns once per django-compat key, by name and never by key", async () => {
    const directory = await temporaryDirectory();
    const keysFile = join(directory, "keys.json");
    const secretFile = join(directory, "secret.json");
    await initSecretFile(secretFile);
    await importKey(keysFile, { name: "django-main", key: README_KEY, profile: "django-compat" });
    await importKey(keysFile, { name: "django-batch", key: COMPAT_KEY, profile: "django-compat" });
    await importKey(keysFile, { name: "main-server", key: STANDARD_KEY, profile: "standard" });

    const lines: string[] = [];
    const logger = createLogger("debug", (line) => lines.push(line));
    await loadCredentials(defaultConfig({ apiKeysFile: keysFile, secretFile }), logger);

    const events = lines.map((line) => JSON.parse(line) as { level: string; event: string; name?: string });
    const warnings = events.filter((event) => event.event === "django_compat_key");
    expect(warnings.map((event) => event.name).sort()).toEqual(["django-batch", "django-main"]);
    for (const warning of warnings) expect(warning.level).toBe("warn");
    const log = lines.join("");
    for (const key of [README_KEY, COMPAT_KEY, STANDARD_KEY]) expect(log).not.toContain(key);
  });
});
