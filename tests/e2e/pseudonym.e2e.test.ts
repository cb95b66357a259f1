/**
 * Pseudonyms against dist/caas over TLS: keys and secrets made with the binary's own CLI, the
 * Django original's 201 vectors over /encode, stability across a restart, rotation and key
 * reload on SIGHUP.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vectors from "../vectors/compat/django-caas-vectors.json" with { type: "json" };
import { addApiKey, cliOk, logCount, makeTestPki, startCaas, tempDir, waitForLog, type RunningCaas, type TestPki } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";

let files: string;
let pki: TestPki;
let secretFile: string;
let keysFile: string;
let standardKey: string;
let caas: RunningCaas;

const env = () => ({ CAAS_SECRET_FILE: secretFile, CAAS_API_KEYS_FILE: keysFile });

beforeAll(async () => {
  files = tempDir("caas-pseudonym-");
  pki = makeTestPki();
  secretFile = join(files, "secret.json");
  keysFile = join(files, "keys.json");
  cliOk("secret", "init", secretFile);
  standardKey = addApiKey("main-server", keysFile, "--profile", "standard");
  cliOk("keys", "import", "django-clients", "--key", "example_api_key", "--profile", "django-compat", "--file", keysFile);
  caas = await startCaas({ pki, env: env() });
});
afterAll(async () => {
  await caas.stop();
});

describe("the django-compat profile, end to end", () => {
  it("reproduces all 201 digests of the Django original over /encode", async () => {
    const answers = await Promise.all(
      vectors.map(async (vector) => {
        const answer = await caas.post("/encode", {
          apiKey: "example_api_key",
          userUUID: vector.userUUID,
          sensitiveData: vector.sensitiveData,
        });
        return ((await answer.json()) as { encrypted_data: string }).encrypted_data;
      }),
    );
    expect(answers).toEqual(vectors.map((vector) => vector.encrypted_data));
  });

  it("warns at start that the compat key uses public salts, naming the key but not showing it", () => {
    expect(caas.output()).toContain('"event":"django_compat_key"');
    expect(caas.output()).toContain("django-clients");
    expect(caas.output()).not.toContain("example_api_key");
  });
});

describe("standard pseudonyms, end to end", () => {
  let firstDigest: string;

  it("answers a keyed digest with its secret version", async () => {
    const answer = await caas.post("/encrypt", { apiKey: standardKey, userUUID: README_USER, sensitiveData: "example sensitive data" });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    const body = (await answer.json()) as { encrypted_data: string; version: number };
    expect(body.version).toBe(1);
    expect(body.encrypted_data).toMatch(/^[0-9a-f]{64,128}$/);
    firstDigest = body.encrypted_data;
  });

  it("refuses a wrong key with 401", async () => {
    const answer = await caas.post("/encrypt", { apiKey: `${standardKey}x`, userUUID: README_USER, sensitiveData: "x" });
    expect(answer.status).toBe(401);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("gives the same digest after a restart of the binary with the same secret", async () => {
    await caas.stop();
    caas = await startCaas({ pki, env: env() });
    const answer = await caas.post(
      "/encrypt",
      { userUUID: README_USER.toUpperCase(), sensitiveData: "example sensitive data" },
      { "x-api-key": standardKey },
    );
    expect(((await answer.json()) as { encrypted_data: string }).encrypted_data).toBe(firstDigest);
  });

  it("gives another digest under another secret", async () => {
    const otherFiles = tempDir("caas-other-secret-");
    const otherSecret = join(otherFiles, "secret.json");
    cliOk("secret", "init", otherSecret);
    const other = await startCaas({ pki, env: { CAAS_SECRET_FILE: otherSecret, CAAS_API_KEYS_FILE: keysFile } });
    try {
      const answer = await other.post("/encrypt", { apiKey: standardKey, userUUID: README_USER, sensitiveData: "example sensitive data" });
      const digest = ((await answer.json()) as { encrypted_data: string }).encrypted_data;
      expect(digest).toMatch(/^[0-9a-f]+$/);
      expect(digest).not.toBe(firstDigest);
    } finally {
      await other.stop();
    }
  });

  it("after a one-step rotation (--activate-in 0) and SIGHUP, hashes under the new version and still verifies the old digest", async () => {
    cliOk("secret", "rotate", "--activate-in", "0", secretFile);
    const reloads = logCount(caas.output(), "reloaded");
    caas.process.kill("SIGHUP");
    await waitForLog(caas, "reloaded", reloads + 1);
    const fresh = (await (
      await caas.post("/encrypt", { apiKey: standardKey, userUUID: README_USER, sensitiveData: "example sensitive data" })
    ).json()) as {
      encrypted_data: string;
      version: number;
    };
    expect(fresh.version).toBe(2);
    expect(fresh.encrypted_data).not.toBe(firstDigest);
    for (const digest of [firstDigest, fresh.encrypted_data]) {
      const verdict = await caas.post("/verify", {
        apiKey: standardKey,
        userUUID: README_USER,
        sensitiveData: "example sensitive data",
        encrypted_data: digest,
      });
      expect(await verdict.json()).toEqual({ match: true });
    }
    const wrong = await caas.post("/verify", {
      apiKey: standardKey,
      userUUID: README_USER,
      sensitiveData: "other data",
      encrypted_data: firstDigest,
    });
    expect(await wrong.json()).toEqual({ match: false });
  });

  it("accepts a key added while running once it receives SIGHUP, without a restart", async () => {
    const lateKey = addApiKey("late-client", keysFile, "--profile", "standard");
    const before = await caas.post("/encrypt", { apiKey: lateKey, userUUID: README_USER, sensitiveData: "x" });
    expect(before.status).toBe(401);
    const reloads = logCount(caas.output(), "reloaded");
    const pid = caas.process.pid;
    caas.process.kill("SIGHUP");
    await waitForLog(caas, "reloaded", reloads + 1);
    const after = await caas.post("/encrypt", { apiKey: lateKey, userUUID: README_USER, sensitiveData: "x" });
    expect(after.status).toBe(200);
    expect(caas.process.pid).toBe(pid);
  });

  it("keeps no API key in clear in its keys file", () => {
    const stored = readFileSync(keysFile, "utf8");
    expect(stored).not.toContain(standardKey);
    expect(stored).not.toContain("example_api_key");
  });
});
