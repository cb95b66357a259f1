/**
 * Canaries: a unique string planted in every field of every endpoint and in every error path
 * (bad JSON around it, a field named with it, a wrong key equal to it, in the URL, in headers,
 * in invalid UTF-8, over the body limit, rate limited...) must never come back out: not in
 * dist/caas's stdout or stderr (at debug level, the chattiest), not in any file under its
 * working or state directory, not in any error answer's body or headers. The one place a
 * canary may appear is a success answer that returns it by design (decrypting a box sealed
 * around it).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { addApiKey, cliOk, startCaas, tempDir, type RunningCaas } from "./harness.ts";
import { README_USER } from "../../support/constants.ts";
const run = crypto.randomUUID().slice(0, 8);
const planted: string[] = [];
/** A fresh canary: rare letters, an index and this run's id, so a hit names its case. */
function canary(): string {
  const value = `QZXJcanary${planted.length}x${run}`;
  planted.push(value);
  return value;
}

let cwd: string;
let caas: RunningCaas;
let limited: RunningCaas;
let standardKey: string;
let auditFile: string;
let limitedAuditFile: string;
const COMPAT_KEY = "canary_test_compat_key_0001";

beforeAll(async () => {
  cwd = tempDir("caas-canary-");
  const keysFile = join(cwd, "keys.json");
  const rootKey = join(cwd, "root-key");
  const keyringFile = join(cwd, "keyring.json");
  cliOk("root-key", "init", rootKey);
  cliOk("keyring", "create", "orders", "--file", keyringFile, "--root-key", rootKey);
  standardKey = addApiKey("canary-standard", keysFile, "--scope", "pseudonym", "--scope", "keyring:orders");
  cliOk("keys", "import", "canary-compat", "--key", COMPAT_KEY, "--profile", "django-compat", "--file", keysFile);
  auditFile = join(cwd, "audit.log");
  limitedAuditFile = join(tempDir("caas-canary-audit-"), "audit.log");
  const env = {
    CAAS_API_KEYS_FILE: keysFile,
    CAAS_LOG_LEVEL: "debug",
    CAAS_MAX_BODY: "4096",
    CAAS_KEYRING_FILE: keyringFile,
    CAAS_ROOT_KEY_FILE: rootKey,
  };
  caas = await startCaas({ cwd, env: { ...env, CAAS_AUDIT_LOG: auditFile } });
  limited = await startCaas({ env: { ...env, CAAS_RATE_LIMIT: "1", CAAS_AUDIT_LOG: limitedAuditFile } });
});
afterAll(async () => {
  await caas?.stop();
  await limited?.stop();
  rmSync(dirname(limitedAuditFile), { recursive: true, force: true });
});

interface Probe {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
}

const JSON_TYPE = { "content-type": "application/json" };
const encoder = new TextEncoder();

function probes(): Probe[] {
  const list: Probe[] = [];
  const post = (name: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    list.push({
      name,
      method: "POST",
      path,
      headers: { ...JSON_TYPE, ...headers },
      body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
    });

  for (const path of ["/oracleinvocation", "/oracleinvocation/decrypt", "/encrypt", "/encode", "/verify"]) {
    post(`${path}: bad JSON around a canary`, path, `{"data":"${canary()}`);
    post(`${path}: a field named with a canary`, path, { data: "x", [canary()]: 1 });
    post(`${path}: a canary as a field's wrong type`, path, { data: [canary()], userUUID: { [canary()]: canary() } });
    post(`${path}: a canary as the whole body`, path, JSON.stringify(canary()));
    post(
      `${path}: a canary in invalid UTF-8`,
      path,
      new Uint8Array([...encoder.encode(`{"data":"${canary()}`), 0xff, 0xfe, ...encoder.encode(`${canary()}"}`)]),
    );
    post(
      `${path}: a canary with a lone surrogate`,
      path,
      `{"data":"${canary()}\\ud800","sensitiveData":"${canary()}\\udfff","userUUID":"${README_USER}"}`,
    );
    post(`${path}: a canary over the body limit`, path, { data: `${canary()}${"x".repeat(5000)}` });
    post(`${path}: a canary as the content type`, path, { data: "x" }, { "content-type": `application/${canary()}` });
    list.push({
      name: `${path}: a canary as the method's target with a wrong method`,
      method: "GET",
      path: `${path}?${canary()}=${canary()}`,
    });
  }

  // The pseudonym routes: a canary as each key place, and in each field with a valid key.
  for (const path of ["/encrypt", "/encode", "/verify"]) {
    const fields = { userUUID: README_USER, sensitiveData: "data", encrypted_data: "00" };
    post(`${path}: a canary as the body's apiKey`, path, { ...fields, apiKey: canary() });
    post(`${path}: a canary as a Bearer key`, path, fields, { authorization: `Bearer ${canary()}` });
    post(`${path}: a canary as X-API-Key`, path, fields, { "x-api-key": canary() });
    post(`${path}: a canary as a malformed Authorization`, path, fields, { authorization: `Basic ${canary()}` });
    post(`${path}: keys that disagree, one a canary`, path, { ...fields, apiKey: standardKey }, { "x-api-key": canary() });
    post(`${path}: a canary as sensitiveData`, path, { ...fields, sensitiveData: canary() }, { "x-api-key": standardKey });
    post(`${path}: a canary as sensitiveData (django-compat)`, path, { ...fields, sensitiveData: canary() }, { "x-api-key": COMPAT_KEY });
    post(`${path}: a canary as userUUID`, path, { ...fields, userUUID: canary() }, { "x-api-key": standardKey });
    post(`${path}: a canary as userUUID (django-compat)`, path, { ...fields, userUUID: canary() }, { "x-api-key": COMPAT_KEY });
    post(`${path}: a canary as encrypted_data`, path, { ...fields, encrypted_data: canary() }, { "x-api-key": standardKey });
    post(
      `${path}: an unknown field named with a canary, valid key`,
      path,
      { ...fields, [canary()]: canary() },
      { "x-api-key": standardKey },
    );
  }

  // The oracle: a canary in every field, and a box sealed around one (its decryption returns it, by design).
  post("seal: a canary as data and aad", "/oracleinvocation", { data: canary(), aad: canary() });
  for (const field of ["data", "key", "mac", "nonce", "aad"]) {
    post(`open: a canary as ${field}`, "/oracleinvocation/decrypt", {
      data: "AAAA",
      key: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
      mac: "1iujHaaPj7hTrcPNi6nB9w==",
      nonce: "CQkJCQkJCQkJCQkJ",
      [field]: canary(),
    });
  }

  // The keyring: a canary in every field and as the key name, with the key (past the scope check) and without.
  const formed = `caas:v1:${new Uint8Array(48).toBase64()}`;
  for (const operation of ["encrypt", "decrypt", "rewrap", "datakey", "encrypt/batch", "decrypt/batch", "rewrap/batch"]) {
    const path = `/keyring/orders/${operation}`;
    const withKey = { authorization: `Bearer ${standardKey}` };
    post(`${path}: bad JSON around a canary`, path, `{"data":"${canary()}`, withKey);
    post(`${path}: a field named with a canary`, path, { data: "x", [canary()]: 1 }, withKey);
    post(
      `${path}: a canary in every field`,
      path,
      {
        data: canary(),
        aad: canary(),
        ciphertext: canary(),
        encoding: canary(),
        plaintext: canary(),
        items: [{ data: canary(), ciphertext: `caas:v1:${canary()}` }],
      },
      withKey,
    );
    post(`${path}: a canary as the ciphertext's version`, path, { ciphertext: `caas:v${canary()}:AAAA` }, withKey);
    post(`${path}: a canary as aad of a formed ciphertext`, path, { ciphertext: formed, aad: canary() }, withKey);
    post(
      `${path}: a canary as items`,
      path,
      { items: [{ ciphertext: canary() }, { data: canary(), encoding: "base64" }, { ciphertext: formed, aad: canary() }] },
      withKey,
    );
    post(`${path}: a canary as a Bearer key`, path, { data: "x" }, { authorization: `Bearer ${canary()}` });
    post(`${path}: a canary as the body's apiKey`, path, { data: "x", apiKey: canary() }, withKey);
    post(`/keyring/${canary()}/${operation}: a canary as the key name`, `/keyring/${canary()}/${operation}`, { data: canary() }, withKey);
    list.push({ name: `${path}: a wrong method with a canary in the query`, method: "GET", path: `${path}?${canary()}` });
  }
  post(
    "envelope seal: a canary as wrap_with",
    "/oracleinvocation",
    { data: canary(), wrap_with: canary() },
    { authorization: `Bearer ${standardKey}` },
  );
  post(
    "envelope open: a canary as wrapped_key",
    "/oracleinvocation/decrypt",
    { data: "AAAA", mac: "1iujHaaPj7hTrcPNi6nB9w==", nonce: "CQkJCQkJCQkJCQkJ", wrapped_key: canary(), wrap_with: "orders" },
    { authorization: `Bearer ${standardKey}` },
  );

  // Outside the routes: the path, the query, header names and values.
  list.push({ name: "a canary as an unknown path", path: `/${canary()}` });
  list.push({ name: "a canary in a percent-encoded path", path: `/healthz/${encodeURIComponent(canary())}%ff` });
  list.push({ name: "a canary in the query of a known route", path: `/healthz?${canary()}` });
  // A safe X-Request-Id is the client's own name for its request and comes back by design; an
  // unsafe one (here, with a space) must not, nor a malformed traceparent.
  list.push({
    name: "a canary in headers",
    path: "/healthz",
    headers: {
      "user-agent": canary(),
      "x-request-id": `${canary()} ${canary()}`,
      [`x-${canary()}`]: canary(),
      referer: `https://${canary()}/`,
    },
  });
  for (const path of ["/oracleinvocation", "/encrypt"]) {
    post(
      `${path}: a canary as an unsafe X-Request-Id`,
      path,
      { data: "x", userUUID: README_USER, sensitiveData: "x" },
      { "x-api-key": standardKey, "x-request-id": `"${canary()}"` },
    );
    post(
      `${path}: a canary in a malformed traceparent`,
      path,
      { data: "x", userUUID: README_USER, sensitiveData: "x" },
      { "x-api-key": standardKey, traceparent: `00-${canary()}-00f067aa0ba902b7-01` },
    );
  }
  list.push({
    name: "a canary with an unknown method",
    method: "PATCH",
    path: "/oracleinvocation",
    headers: JSON_TYPE,
    body: JSON.stringify({ data: canary() }),
  });
  return list;
}

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const info = statSync(path);
    if (info.isDirectory()) found.push(...filesUnder(path));
    else if (info.isFile()) found.push(path);
  }
  return found;
}

/** Which canaries `text` holds, in any of the forms a careless log might use. */
function canariesIn(text: string): string[] {
  return planted.filter(
    (value) =>
      text.includes(value) ||
      text.includes(Buffer.from(value).toString("hex")) ||
      text.includes(Buffer.from(value).toString("base64").slice(0, 16)),
  );
}

describe("canaries never come back out", () => {
  const leaksInAnswers: string[] = [];

  it("plants canaries through every endpoint and error path, and no error answer repeats one", async () => {
    const statuses = new Set<number>();
    for (const probe of probes()) {
      const answer = await caas.request(probe.path, {
        method: probe.method ?? "GET",
        headers: probe.headers ?? {},
        ...(probe.body === undefined ? {} : { body: probe.body }),
      });
      statuses.add(answer.status);
      const text = await answer.text();
      const headers = JSON.stringify([...answer.headers.entries()]);
      if (canariesIn(headers).length > 0) leaksInAnswers.push(`${probe.name}: in headers`);
      if (answer.status >= 400 && canariesIn(text).length > 0) leaksInAnswers.push(`${probe.name}: in the ${answer.status} body`);
      expect({ name: probe.name, status: answer.status < 500 }).toEqual({ name: probe.name, status: true });
    }
    // The sealed-around-a-canary box round trip: its plaintext may come back (it is the answer), nowhere else.
    const sealed = (await (await caas.post("/oracleinvocation", { data: canary() })).json()) as Record<string, string>;
    const opened = await caas.post("/oracleinvocation/decrypt", sealed);
    expect(opened.status).toBe(200);
    // Rate limited, with canaries as keys: the 429 path.
    for (let i = 0; i < 3; i++) {
      // Not a probe: probes are never rate-limited.
      const answer = await limited.request("/swagger/json", { headers: { "x-api-key": canary(), "user-agent": canary() } });
      statuses.add(answer.status);
      if (canariesIn(await answer.text()).length > 0) leaksInAnswers.push("rate limited: in the body");
    }
    expect(leaksInAnswers).toEqual([]);
    // The probes reached the error paths they were meant for.
    expect([200, 400, 401, 404, 405, 413, 415, 429].filter((status) => !statuses.has(status))).toEqual([]);
    expect(planted.length).toBeGreaterThan(100);
  });

  it("wrote none to stdout or stderr (at debug level)", async () => {
    await Bun.sleep(200); // let the last log lines arrive
    expect(caas.output()).toContain('"event":"request"'); // the access log was on
    expect(canariesIn(caas.output())).toEqual([]);
    expect(canariesIn(limited.output())).toEqual([]);
  });

  it("wrote none to the audit trail, which has a line for every request to an audited route", () => {
    const lines = readFileSync(auditFile, "utf8").trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(50);
    expect(lines.every((line) => typeof (JSON.parse(line) as { operation?: unknown }).operation === "string")).toBe(true);
    expect(canariesIn(readFileSync(auditFile, "latin1"))).toEqual([]);
    expect(canariesIn(readFileSync(limitedAuditFile, "latin1"))).toEqual([]);
  });

  it("wrote none to any file under its working and state directories", () => {
    const files = filesUnder(cwd);
    expect(files.some((path) => path.includes("state"))).toBe(true);
    const hits = files.filter((path) => canariesIn(readFileSync(path).toString("latin1")).length > 0);
    expect(hits).toEqual([]);
  });
});
