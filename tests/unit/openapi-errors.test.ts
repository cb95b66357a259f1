/**
 * Every error code the OpenAPI document lists for an operation is one that operation really
 * answers with: for each (operation, code) the document names, a request that produces exactly
 * that code is sent and its answer checked, so a listed code nobody can get, or a code listed
 * under the wrong status, fails here. And the other way for the bad-input table: each of those
 * answers carries a code its route lists (or one the document says any path can answer).
 */
import { describe, expect, it } from "bun:test";
import { AppendFailed, type Appended } from "../../src/files/append-file.ts";
import { AuditTrail } from "../../src/http/audit.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { Admissions, RateLimiter, rateLimitGate } from "../../src/http/rate-limit.ts";
import { SPEC_PATH } from "../../src/modules/ops/docs.ts";
import { badInputCases, BAD_INPUT_MAX_BODY } from "../cases/bad-input.ts";
import {
  CIPHERTEXTS,
  FIXTURE_CONFIG,
  FULL_KEY,
  fixtureApp,
  KEY_NAME,
  MAC_NAME,
  SCOPELESS_KEY,
  SEALED,
  SIGNATURES,
  SIGNER_NAME,
  SEALED_NOT_TEXT,
  UNKNOWN_KEY_NAME,
} from "../openapi/fixture.ts";
import { testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

type Body = Record<string, unknown>;

interface Spec {
  paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, ErrorResponse> }>>;
}
interface ErrorResponse {
  content?: {
    "application/json"?: { schema?: { allOf?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }[] } };
  };
}

const codesOf = (response: ErrorResponse | undefined): string[] =>
  response?.content?.["application/json"]?.schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum ?? [];

/** A sink that refuses every line, as a full disk does. */
const failingSink = {
  append(_lines: readonly string[], done: Appended): void {
    done(0, new AppendFailed("ENOSPC"));
  },
  reopen(): void {
    throw Object.assign(new Error("reopen failed (ENOSPC)"), { errno: "ENOSPC" });
  },
};

const apps = {
  main: fixtureApp(),
  keyRequired: fixtureApp({ config: { oracleRequireKey: true } }),
  // A budget smaller than any body below, so each one is refused before it is read.
  busy: fixtureApp({ config: { maxBodyInFlight: 16 } }),
  auditFailing: fixtureApp({ auditTrail: new AuditTrail(failingSink) }),
  notReady: fixtureApp({ isReady: () => false }),
};
type AppName = keyof typeof apps;

/** A body each operation accepts (the key is sent in a header), and the text field a lone surrogate goes in. */
const VALID: Readonly<Record<string, { body: Body; text?: string }>> = {
  "oracle.seal": { body: { data: "attack at dawn" }, text: "data" },
  "oracle.seal_batch": { body: { items: [{ data: "attack at dawn" }] } },
  "oracle.open": { body: { ...SEALED, aad: "order-42" }, text: "aad" },
  "pseudonym.encrypt": { body: { userUUID: README_USER, sensitiveData: "example" }, text: "sensitiveData" },
  "pseudonym.encode": { body: { userUUID: README_USER, sensitiveData: "example" }, text: "sensitiveData" },
  "pseudonym.encrypt_batch": { body: { items: [{ userUUID: README_USER, sensitiveData: "example" }] } },
  "pseudonym.verify": { body: { userUUID: README_USER, sensitiveData: "example", encrypted_data: "00" }, text: "sensitiveData" },
  "keyring.encrypt": { body: { data: "attack at dawn" }, text: "data" },
  "keyring.encrypt_batch": { body: { items: [{ data: "attack at dawn" }] } },
  "keyring.decrypt": { body: { ciphertext: CIPHERTEXTS.current, aad: "order-42" }, text: "aad" },
  "keyring.decrypt_batch": { body: { items: [{ ciphertext: CIPHERTEXTS.current, aad: "order-42" }] } },
  "keyring.rewrap": { body: { ciphertext: CIPHERTEXTS.current, aad: "order-42" }, text: "aad" },
  "keyring.rewrap_batch": { body: { items: [{ ciphertext: CIPHERTEXTS.current, aad: "order-42" }] } },
  "keyring.datakey": { body: {} },
  "keyring.sign": { body: { data: "order 42 shipped" }, text: "data" },
  "keyring.sign_batch": { body: { items: [{ data: "order 42 shipped" }] } },
  "keyring.hmac": { body: { data: "order 42 shipped" }, text: "data" },
  "keyring.hmac_batch": { body: { items: [{ data: "order 42 shipped" }] } },
  "keyring.verify": { body: { data: "order 42 shipped", signature: SIGNATURES.current }, text: "data" },
  "keyring.verify_batch": { body: { items: [{ data: "order 42 shipped", signature: SIGNATURES.current }] } },
  "keyring.jwt": { body: { claims: { sub: "user-42" } } },
  "keyring.jwt_verify": { body: { token: "a.b.c" } },
};

/** The key each keyring operation is asked of: one of the type that does it. */
function keyNameOf(operation: Operation): string {
  if (/^keyring\.hmac/.test(operation.route)) return MAC_NAME;
  return /^keyring\.(sign|verify|jwt|public_key)/.test(operation.route) ? SIGNER_NAME : KEY_NAME;
}

/** A key of a type that does not do the operation. */
function otherTypeOf(operation: Operation): string {
  return keyNameOf(operation) === KEY_NAME ? SIGNER_NAME : KEY_NAME;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

interface Operation {
  readonly path: string;
  readonly method: string;
  /** The operationId without the trailing-slash twin's suffix: which route it is. */
  readonly route: string;
}

interface Attempt {
  readonly app?: AppName;
  readonly path?: string;
  /** A JSON value, or raw bytes; undefined: no body at all. */
  readonly body?: Body | string | Uint8Array;
  readonly headers?: Record<string, string>;
  /** Sent once first, through the same gate (the rate limit's recipe). */
  readonly twice?: boolean;
}

const withKey = { "x-api-key": FULL_KEY };
const isOracle = (operation: Operation) => operation.route.startsWith("oracle.");
const isKeyring = (operation: Operation) => operation.route.startsWith("keyring.");
const validOf = (operation: Operation) => VALID[operation.route] ?? { body: {} };
const envelope = (wrappedKey: string, wrapWith = KEY_NAME) => ({
  data: SEALED.data,
  mac: SEALED.mac,
  nonce: SEALED.nonce,
  wrapped_key: wrappedKey,
  wrap_with: wrapWith,
});
const atName = (operation: Operation, name: string) => operation.path.replace("{name}", name);

/** How to make each code happen on an operation; undefined where this table knows no way (a listed code without one fails the test). */
const RECIPES: Readonly<Record<string, (operation: Operation) => Attempt | undefined>> = {
  // Not a JSON media type for the routes that want one; a charset other than UTF-8 for the Django original's, which read any.
  unsupported_media_type: (operation) => ({
    body: JSON.stringify(validOf(operation).body),
    headers: { ...withKey, "content-type": "application/xml; charset=iso-8859-1" },
  }),
  body_too_large: (operation) => ({ body: JSON.stringify(validOf(operation).body) + " ".repeat(FIXTURE_CONFIG.maxBody) }),
  busy: (operation) => ({ app: "busy", body: JSON.stringify(validOf(operation).body).padEnd(64, " ") }),
  empty_body: () => ({ body: undefined }),
  invalid_utf8: () => ({ body: Uint8Array.of(0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d) }),
  invalid_json: () => ({ body: "{" }),
  // Not an object: the originals' routes ignore a field they do not know, as the originals did.
  invalid_body: () => ({ body: "[]" }),
  invalid_text: (operation) => {
    if (operation.route === "keyring.jwt") return { body: { claims: { sub: "\ud800" } } };
    const field = validOf(operation).text;
    return field === undefined ? undefined : { body: `${JSON.stringify(validOf(operation).body).slice(0, -1)},"${field}":"\\ud800"}` };
  },
  invalid_encoding: (operation) => {
    if (operation.route === "oracle.open") return { body: { ...SEALED, key: "not base64!" } };
    if (["keyring.encrypt", "keyring.sign", "keyring.hmac", "keyring.verify"].includes(operation.route))
      return { body: { ...validOf(operation).body, data: "not base64!", encoding: "base64" } };
    return undefined;
  },
  unsupported_operation: (operation) => {
    if (operation.route === "oracle.seal") return { body: { data: "attack at dawn", wrap_with: SIGNER_NAME } };
    if (operation.route === "oracle.open") return { body: envelope(CIPHERTEXTS.wrappedKey, SIGNER_NAME) };
    return { path: atName(operation, otherTypeOf(operation)) };
  },
  invalid_signature: () => ({ body: { data: "order 42 shipped", signature: "not a signature" } }),
  key_version_unknown: (operation) =>
    operation.route === "keyring.jwt_verify"
      ? { body: { token: `${base64url({ alg: "ES256", kid: `${SIGNER_NAME}.v9`, typ: "JWT" })}.${base64url({})}.AAAA` } }
      : { body: { data: "order 42 shipped", signature: SIGNATURES.newer } },
  authentication_failed: (operation) => ({ body: { ...validOf(operation).body, aad: "another aad" } }),
  plaintext_not_utf8: (operation) => {
    if (operation.route === "oracle.open") return { body: SEALED_NOT_TEXT };
    if (operation.route === "keyring.decrypt") return { body: { ciphertext: CIPHERTEXTS.notText } };
    return undefined;
  },
  invalid_ciphertext: (operation) =>
    operation.route === "oracle.open" ? { body: envelope("not a ciphertext") } : { body: { ciphertext: "not a ciphertext" } },
  key_version_retired: (operation) => {
    if (operation.route === "oracle.open") return { body: envelope(CIPHERTEXTS.retiredWrappedKey) };
    if (operation.route === "keyring.verify") return { body: { data: "order 42 shipped", signature: SIGNATURES.retired } };
    return { body: { ciphertext: CIPHERTEXTS.retired } };
  },
  unknown_key: (operation) => {
    if (operation.route === "oracle.seal") return { body: { data: "attack at dawn", wrap_with: UNKNOWN_KEY_NAME } };
    if (operation.route === "oracle.open") return { body: envelope(CIPHERTEXTS.wrappedKey, UNKNOWN_KEY_NAME) };
    return { path: atName(operation, UNKNOWN_KEY_NAME) };
  },
  unauthorized: (operation) => ({ app: isOracle(operation) ? "keyRequired" : "main", headers: {} }),
  forbidden: (operation) => ({ app: isOracle(operation) ? "keyRequired" : "main", headers: { "x-api-key": SCOPELESS_KEY } }),
  invalid_uuid: (operation) => ({ body: { ...validOf(operation).body, userUUID: "not-a-uuid" } }),
  secret_version_unknown: (operation) => ({ body: { ...validOf(operation).body, version: 99 } }),
  secret_version_retired: (operation) => ({ body: { ...validOf(operation).body, version: 1 } }),
  batch_too_large: (operation) => {
    const items = (validOf(operation).body.items as unknown[] | undefined) ?? [];
    return { body: { items: Array.from({ length: FIXTURE_CONFIG.batchMax + 1 }, () => items[0]) } };
  },
  rate_limited: () => ({ twice: true }),
  audit_unavailable: () => ({ app: "auditFailing" }),
  not_ready: () => ({ app: "notReady" }),
};

async function answer(operation: Operation, attempt: Attempt): Promise<{ status: number; code: unknown }> {
  const app = apps[attempt.app ?? "main"];
  const path = attempt.path ?? (isKeyring(operation) ? atName(operation, keyNameOf(operation)) : operation.path);
  const body = "body" in attempt ? attempt.body : validOf(operation).body;
  const method = operation.method.toUpperCase();
  const request = () =>
    new Request(`http://localhost${path}`, {
      method,
      headers: { "content-type": "application/json", ...(attempt.headers ?? withKey) },
      ...(method === "GET" || body === undefined
        ? {}
        : { body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
  let served = (incoming: Request) => app.handle(incoming);
  if (attempt.twice === true) {
    // The rate limit is the server's gate in front of the app: one request a second, this one the
    // second. As the server does, it charges a valid key in a header to that key's bucket.
    const keys = ApiKeyStore.fromKeys([{ name: "full", key: FULL_KEY }]);
    const gate = rateLimitGate(new Admissions(new RateLimiter({ rate: 1, capacity: 1 })), { apiKeys: () => keys });
    served = async (incoming) => gate?.(incoming) ?? app.handle(incoming);
    await served(request());
  }
  const response = await served(request());
  const json = (await response.json()) as { error?: { code?: unknown } };
  return { status: response.status, code: json.error?.code };
}

async function documentOf(app: AppName) {
  const response = await apps[app].handle(new Request(`http://localhost${SPEC_PATH}`));
  return (await response.json()) as Spec;
}

function operationsOf(document: Spec): (Operation & { codes: [string, number][] })[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      path,
      method,
      route: (operation.operationId ?? "").replace(/_with_slash$/, ""),
      codes: Object.entries(operation.responses ?? {}).flatMap(([status, response]) =>
        codesOf(response).map((code): [string, number] => [code, Number(status)]),
      ),
    })),
  );
}

describe("every error code the document lists for an operation", () => {
  it("is answered by that operation, with that status, to a request made to get it", async () => {
    const document = await documentOf("main");
    const tried: string[] = [];
    const outcomes: { operation: string; code: string; status: number | string; got: unknown }[] = [];
    for (const operation of operationsOf(document)) {
      for (const [code, status] of operation.codes) {
        const attempt = RECIPES[code]?.(operation);
        const got = attempt === undefined ? "no recipe" : await answer(operation, attempt);
        outcomes.push({ operation: `${operation.method} ${operation.path}`, code, status, got });
        tried.push(code);
      }
    }
    expect(outcomes).toEqual(outcomes.map((outcome) => ({ ...outcome, got: { status: outcome.status, code: outcome.code } })));
    // Every code the routes can be refused with is listed somewhere, and tried.
    expect(new Set(tried)).toEqual(new Set(Object.keys(RECIPES)));
    expect(outcomes.length).toBeGreaterThan(150);
  }, 30_000);

  it("includes every answer of the bad-input table, each of whose codes its route lists", async () => {
    const app = testApp({ config: { maxBody: BAD_INPUT_MAX_BODY } });
    const document = (await (await app.handle(new Request(`http://localhost${SPEC_PATH}`))).json()) as Spec;
    // What the document says any path can answer besides its own codes.
    const anyPath = ["not_found", "method_not_allowed", "invalid_target"];
    const listed = new Map(
      operationsOf(document).map((operation) => [
        `${operation.method.toUpperCase()} ${operation.path}`,
        operation.codes.map(([code]) => code),
      ]),
    );
    const unlisted: string[] = [];
    for (const testCase of badInputCases) {
      const response = await app.handle(
        new Request(`http://localhost${testCase.path}`, {
          method: testCase.method,
          headers: testCase.headers,
          ...(testCase.body.length === 0 ? {} : { body: testCase.body }),
        }),
      );
      const code = ((await response.json()) as { error: { code: string } }).error.code;
      const codes = listed.get(`${testCase.method} ${testCase.path}`) ?? [];
      if (!codes.includes(code) && !anyPath.includes(code)) unlisted.push(`${testCase.name}: ${code}`);
    }
    expect(unlisted).toEqual([]);
    expect(badInputCases.length).toBeGreaterThan(20);
  });
});
