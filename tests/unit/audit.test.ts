/**
 * The audit trail in-process: which routes it covers (every route that touches a secret, so a
 * new one cannot be left out), the one call a route makes to add what only it knows, and how a
 * trail that fails refuses and recovers. The end-to-end promises are in tests/e2e/audit.e2e.test.ts.
 */
import { describe, expect, it } from "bun:test";
import { Elysia } from "elysia";
import { testApp } from "./helpers.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { CredentialsHolder } from "../../src/credentials/holder.ts";
import { makeSecretRing, newSecretVersion } from "../../src/credentials/secret-ring.ts";
import { AuditUnavailable } from "../../src/errors.ts";
import { Audit, AuditTrail, auditPlugin, type AuditSink } from "../../src/http/audit.ts";
import { errorAnswer } from "../../src/http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../../src/http/headers.ts";
import { requestIdOf, traceIdOf } from "../../src/http/request-ids.ts";
import { silentLogger } from "../../src/log.ts";

/** A sink that keeps lines in memory and can be made to fail as a full disk does. */
class MemorySink implements AuditSink {
  readonly lines: string[] = [];
  failing = false;
  reopened = 0;
  append(line: string): void {
    if (this.failing) throw Object.assign(new Error("append failed (ENOSPC)"), { errno: "ENOSPC" });
    this.lines.push(line);
  }
  reopen(): void {
    this.reopened += 1;
  }
  parsed(): Record<string, unknown>[] {
    return this.lines.flatMap((batch) => batch.split("\n").filter(Boolean)).map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

const credentials = new CredentialsHolder({
  apiKeys: ApiKeyStore.fromKeys([{ name: "unit-client", key: "audit-unit-test-key-0123456789" }]),
  secrets: makeSecretRing([newSecretVersion(1)]),
});

describe("which routes are audited", () => {
  const app = testApp({ credentials });

  // Every POST route reads or makes something secret (data, keys, digests); a route added later
  // without an operationId would be served without an audit line, and this says so.
  it("every POST route names its operation (operationId), and no two share one", () => {
    const posts = app.routes.filter((route) => route.method === "POST");
    expect(posts.length).toBeGreaterThanOrEqual(7);
    const operations = posts.map((route) => [route.path, route.hooks.detail?.operationId]);
    expect(operations.filter(([, operation]) => operation === undefined)).toEqual([]);
    expect(new Set(operations.map(([, operation]) => operation)).size).toBe(posts.length);
    for (const [, operation] of operations) expect(operation).toMatch(/^[a-z]+\.[a-z_]+$/);
  });

  it("names the existing operations as documented", () => {
    const named = Object.fromEntries(
      app.routes
        .filter((route) => route.hooks.detail?.operationId !== undefined)
        .map((route) => [route.path, route.hooks.detail?.operationId]),
    );
    expect(named).toEqual({
      "/oracleinvocation": "oracle.seal",
      "/oracleinvocation/batch": "oracle.seal_batch",
      "/oracleinvocation/decrypt": "oracle.open",
      "/encrypt": "pseudonym.encrypt",
      "/encrypt/batch": "pseudonym.encrypt_batch",
      "/encode": "pseudonym.encode",
      "/verify": "pseudonym.verify",
      "/keyring/:name/encrypt": "keyring.encrypt",
      "/keyring/:name/encrypt/batch": "keyring.encrypt_batch",
      "/keyring/:name/decrypt": "keyring.decrypt",
      "/keyring/:name/decrypt/batch": "keyring.decrypt_batch",
      "/keyring/:name/rewrap": "keyring.rewrap",
      "/keyring/:name/rewrap/batch": "keyring.rewrap_batch",
      "/keyring/:name/datakey": "keyring.datakey",
      "/keyring/:name/sign": "keyring.sign",
      "/keyring/:name/sign/batch": "keyring.sign_batch",
      "/keyring/:name/hmac": "keyring.hmac",
      "/keyring/:name/hmac/batch": "keyring.hmac_batch",
      "/keyring/:name/verify": "keyring.verify",
      "/keyring/:name/verify/batch": "keyring.verify_batch",
      "/keyring/:name/jwt": "keyring.jwt",
      "/keyring/:name/jwt/verify": "keyring.jwt_verify",
      "/keyring/:name/public-key": "keyring.public_key",
    });
  });
});

describe("a route's one call: audit.note()", () => {
  // The shape the keyring's routes take: a module that uses the app's audit plugin and notes the key it used.
  function keyringLikeApp(sink: MemorySink) {
    const audit = new Audit(new AuditTrail(sink));
    const plugin = auditPlugin(audit);
    const module = new Elysia({ name: "keyring-like" }).use(plugin).post(
      "/keyring/:name/encrypt",
      ({ audit: facts, params }) => {
        facts.note({ keyName: params.name, keyVersion: 3 });
        return { ciphertext: "vault:v3:..." };
      },
      { detail: { operationId: "keyring.encrypt" } },
    );
    const app = new Elysia()
      .onRequest(({ set }) => {
        set.headers[REQUEST_ID_HEADER] = "rid-1";
      })
      .onError(async (context) => {
        const answered = errorAnswer(context.code, context.error, context.request, () => undefined, silentLogger);
        return (await audit.settleError(context.request, context.route, undefined, "rid-1", undefined, answered)).response;
      })
      .use(plugin)
      .use(module);
    audit.registerRoutes(app.routes);
    return app;
  }

  it("puts the key's name and version in the line of a route with a path parameter", async () => {
    const sink = new MemorySink();
    const answer = await keyringLikeApp(sink).handle(new Request("http://caas/keyring/payments/encrypt", { method: "POST" }));
    expect(answer.status).toBe(200);
    expect(sink.parsed()).toEqual([
      { time: expect.any(String), requestId: "rid-1", operation: "keyring.encrypt", keyName: "payments", keyVersion: 3, status: 200 },
    ]);
  });

  it("does not answer with the result when the line cannot be written", async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const answer = await keyringLikeApp(sink).handle(new Request("http://caas/keyring/payments/encrypt", { method: "POST" }));
    expect(answer.status).toBe(503);
    expect(await answer.text()).not.toContain("vault:v3");
  });
});

describe("the trail", () => {
  const entry = {
    requestId: "r",
    traceId: undefined,
    client: undefined,
    apiKeyName: undefined,
    operation: "oracle.seal",
    keyName: undefined,
    keyVersion: undefined,
    keyVersions: undefined,
    items: undefined,
    status: 200,
    code: undefined,
  };

  it("refuses while failing, then reopens, writes a resumed line with the refusals, and takes lines again", async () => {
    const sink = new MemorySink();
    const trail = new AuditTrail(sink);
    await trail.record(entry);
    sink.failing = true;
    const refused = [trail.record(entry), trail.record(entry)];
    for (const answer of refused) await expect(answer).rejects.toBeInstanceOf(AuditUnavailable);
    expect(trail.ready()).toBe(false);
    sink.failing = false;
    expect(trail.ready()).toBe(true);
    await trail.record(entry);
    expect(sink.reopened).toBeGreaterThanOrEqual(1);
    expect(sink.parsed().map((line) => [line.operation, line.refused])).toEqual([
      ["oracle.seal", undefined],
      ["audit.resumed", 2],
      ["oracle.seal", undefined],
    ]);
  });

  it("writes the lines of requests settled in one turn of the event loop with one write, in order", async () => {
    const sink = new MemorySink();
    const trail = new AuditTrail(sink);
    await Promise.all([1, 2, 3].map((n) => trail.record({ ...entry, requestId: `r${n}` })));
    await trail.record({ ...entry, requestId: "r4" });
    expect(sink.lines.length).toBe(2);
    expect(
      sink.lines[0]!.split("\n")
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { requestId: string }).requestId),
    ).toEqual(["r1", "r2", "r3"]);
  });

  it("without a sink (CAAS_AUDIT_LOG unset) takes every line and is always ready", () => {
    const trail = new AuditTrail();
    expect(trail.enabled).toBe(false);
    expect(trail.record(entry)).toBeUndefined();
    expect(trail.ready()).toBe(true);
  });

  it("writes one line per request through the app, and /readyz says 503 while it fails", async () => {
    const sink = new MemorySink();
    const app = testApp({ credentials, auditTrail: new AuditTrail(sink) });
    const seal = () =>
      app.handle(
        new Request("http://caas/oracleinvocation", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"data":"x"}',
        }),
      );
    expect((await seal()).status).toBe(200);
    sink.failing = true;
    expect((await seal()).status).toBe(503);
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(503);
    expect((await app.handle(new Request("http://caas/healthz"))).status).toBe(200);
    sink.failing = false;
    expect((await app.handle(new Request("http://caas/readyz"))).status).toBe(200);
    expect(sink.parsed().map((line) => line.operation)).toEqual(["oracle.seal", "audit.resumed"]);
  });
});

describe("request ids and trace ids", () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it("keeps a safe X-Request-Id and replaces anything else", () => {
    expect(requestIdOf(headers({ "x-request-id": "A-z0.9_:-" }))).toBe("A-z0.9_:-");
    expect(requestIdOf(headers({ "x-request-id": "a".repeat(128) }))).toBe("a".repeat(128));
    for (const unsafe of ["a".repeat(129), "a b", 'a"b', "a\\b", "a/b", "a%20b", "a,b", "a;b", "a=b", "a{b}"]) {
      expect(requestIdOf(headers({ "x-request-id": unsafe }))).not.toBe(unsafe);
    }
    expect(requestIdOf(headers({}))).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("reads the trace id of a version 00 traceparent and ignores every malformed one", () => {
    const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    expect(traceIdOf(headers({ traceparent: `00-${trace}-00f067aa0ba902b7-01` }))).toBe(trace);
    expect(traceIdOf(headers({ traceparent: `00-${trace}-00f067aa0ba902b7-00` }))).toBe(trace);
    for (const malformed of [
      `01-${trace}-00f067aa0ba902b7-01`,
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${trace}-${"0".repeat(16)}-01`,
      `00-${trace.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${trace}-00f067aa0ba902b7-1`,
      `00-${trace}-00f067aa0ba902b7-01-`,
      `00-${trace}0-00f067aa0ba902b7-01`,
      `00_${trace}_00f067aa0ba902b7_01`,
      "",
    ]) {
      expect(traceIdOf(headers({ traceparent: malformed }))).toBeUndefined();
    }
    expect(traceIdOf(headers({}))).toBeUndefined();
  });
});
