/**
 * The request-target as Bun hands it over in request.url (absolute when the Host is usable, the
 * bare target when it is not, host:port for CONNECT), and the error path that answers about it:
 * nothing here may throw on a request's contents, and a bug while answering is still a JSON 500.
 * The whole app's error path too: an audit trail that cannot write, or that throws, and a logger
 * that throws, still leave every request with caas's JSON answer and headers, and one log line at
 * most. tests/e2e/raw-socket.e2e.test.ts sends the same targets to dist/caas over TLS.
 */
import { describe, expect, it } from "bun:test";
import { errorAnswer } from "../../src/http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../../src/http/headers.ts";
import { instrument } from "../../src/server/instrument.ts";
import { pathOf, targetProblem } from "../../src/http/paths.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { AppendFailed } from "../../src/files/append-file.ts";
import { AuditTrail } from "../../src/http/audit.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { type CaasApp, postJson, testApp } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

/** Every form of request.url Bun 1.4.5 was seen to produce (tests/e2e/raw-socket.e2e.test.ts). */
const URL_FORMS: ReadonlyArray<readonly [string, string]> = [
  ["https://localhost/aaaaaaaaaa/healthz?x=1", "/aaaaaaaaaa/healthz"],
  ["https://x/zz/healthz", "/zz/healthz"],
  ["https://ab/", "/"],
  ["https://:8443/healthz", "/healthz"],
  ["https://[::1]:8443/healthz?a/b", "/healthz"],
  ["/aaaaaaaaaa/healthz", "/aaaaaaaaaa/healthz"],
  ["//healthz?q", "//healthz"],
  ["/", "/"],
  ["localhost:8443", ""],
  ["", ""],
];

describe("pathOf", () => {
  it.each(URL_FORMS)("reads the path of %p as %p", (url, path) => {
    expect(pathOf(url)).toBe(path);
  });
});

describe("targetProblem", () => {
  it.each([
    ["https://localhost/encrypt#frag", "fragment"],
    ["/encrypt?x#", "fragment"],
    ["/oracleinvocation/../encrypt", "dot_segment"],
    ["/a/%2e%2E/encrypt", "dot_segment"],
    ["/a/.%2e/encrypt", "dot_segment"],
    ["/./healthz", "dot_segment"],
    ["/healthz/.", "dot_segment"],
    ["/healthz/%2E", "dot_segment"],
    ["localhost:8443", "no_path"],
    ["", "no_path"],
  ] as const)("refuses %p (%s)", (url, problem) => {
    expect(targetProblem(url)).toBe(problem);
  });

  it.each([
    "https://localhost/healthz",
    "https://x/healthz?next=../metrics",
    "/healthz...",
    "/.well-known",
    "/a/..b",
    "/%2e%2e%2e",
    "https://[::1]/",
  ])("routes %p", (url) => {
    expect(targetProblem(url)).toBeUndefined();
  });
});

/** At info, caas's default: at debug each request also has its access-log line. */
function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger("info", (line) => lines.push(line)) };
}

describe("the error path", () => {
  it("answers a failure inside the error mapping itself with a JSON 500 and one log line by name", async () => {
    const { lines, logger } = recordingLogger();
    const failingLookup = () => {
      throw new TypeError("secret detail from the request");
    };
    const { response } = errorAnswer(
      { code: "NOT_FOUND", error: new Error("not found"), request: new Request("https://localhost/nope") },
      { allowedMethods: failingLookup, logger, requestId: "id-1" },
    );
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ error: { code: "internal", message: "Internal error." } });
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ level: "error", event: "internal_error", requestId: "id-1", error: "TypeError" });
    expect(lines[0]).not.toContain("secret detail");
  });

  it.each([
    [
      "throws",
      () => {
        throw new RangeError("detail");
      },
    ],
    ["rejects", () => Promise.reject(new RangeError("detail"))],
  ] as const)("answers an app that %s with caas's JSON 500, headers and a request id, logged once", async (_how, app) => {
    const { lines, logger } = recordingLogger();
    const metrics = new Metrics();
    const handle = instrument(app, { metrics, logger });
    const response = await handle(new Request("https://localhost/healthz"));
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("strict-transport-security")).toStartWith("max-age=");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const requestId = response.headers.get(REQUEST_ID_HEADER);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await response.json()).toEqual({ error: { code: "internal", message: "Internal error." } });
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ event: "internal_error", requestId, error: "RangeError" });
    expect(lines[0]).not.toContain("detail");
    expect(metrics.inFlight).toBe(0);
  });
});

/** What every answer caas itself gives carries: JSON, the security headers and a request id; and the error code asked for. */
async function expectCaasJson(response: Response, status: number, code?: string): Promise<unknown> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toStartWith("application/json");
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("strict-transport-security")).toStartWith("max-age=");
  expect(response.headers.get(REQUEST_ID_HEADER)).toMatch(/^[0-9a-f-]{36}$/);
  const body: unknown = await response.json();
  if (code !== undefined) expect(body).toMatchObject({ error: { code } });
  return body;
}

const INTERNAL = { error: { code: "internal", message: "Internal error." } };
const SECRET = "secret text from the request";

/** A logger whose writer is gone: every line throws. At debug, so the access log is written (and throws) too. */
const throwingLogger: Logger = createLogger("debug", () => {
  throw new Error("stdout is gone");
});

/** A trail whose every write fails, as on a full disk. */
const unwritableTrail = () =>
  new AuditTrail({
    append: (_lines, done) => done(0, new AppendFailed("ENOSPC")),
    reopen: () => undefined,
  });

/** A trail with a bug of its own: its clock gives an invalid date, so building a line throws (a RangeError) before any write. */
const throwingTrail = () =>
  new AuditTrail({ append: (lines, done) => done(lines.length), reopen: () => undefined }, { now: () => new Date(Number.NaN) });

/** The audited calls: an answer (the oracle's seal), and a refusal (/encrypt without a key). */
const sealCall = (app: CaasApp) => postJson(app, "/oracleinvocation", { data: SECRET });
const refusedCall = (app: CaasApp) => postJson(app, "/encrypt", { userUUID: README_USER, sensitiveData: SECRET });

describe("the app's error path, with a broken audit trail or logger", () => {
  it("answers 503 audit_unavailable with caas's headers when no line can be written, for answers and refusals alike, one log line each", async () => {
    const { lines, logger } = recordingLogger();
    const app = testApp({ auditTrail: unwritableTrail(), logger });
    for (const call of [sealCall, refusedCall]) {
      const before = lines.length;
      const body = await expectCaasJson(await call(app), 503, "audit_unavailable");
      expect(JSON.stringify(body)).not.toContain(SECRET);
      expect(lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
        expect.objectContaining({ event: "request_failed", status: 503, code: "audit_unavailable" }),
      ]);
    }
    expect(lines.join("")).not.toContain(SECRET);
  });

  it("answers caas's JSON 500 when the trail itself throws, on an answer and on a refusal, with one log line each", async () => {
    const { lines, logger } = recordingLogger();
    const app = testApp({ auditTrail: throwingTrail(), logger });
    for (const call of [sealCall, refusedCall]) {
      const before = lines.length;
      const response = await call(app);
      const requestId = response.headers.get(REQUEST_ID_HEADER);
      expect(await expectCaasJson(response, 500)).toEqual(INTERNAL);
      expect(lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
        expect.objectContaining({ level: "error", event: "internal_error", code: "internal", error: "RangeError", requestId }),
      ]);
    }
    expect(lines.join("")).not.toContain(SECRET);
    // A route that is not audited never meets the trail.
    await expectCaasJson(await app.handle(new Request("http://localhost/healthz")), 200);
  });

  it("gives every answer it would give with a working logger when the logger throws", async () => {
    const app = testApp({ logger: throwingLogger });
    await expectCaasJson(await app.handle(new Request("http://localhost/healthz")), 200);
    // A refusal is logged (request_refused) while it is answered: it stays the 401 it is.
    const refused = await refusedCall(app);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="caas"');
    await expectCaasJson(refused, 401, "unauthorized");
    await expectCaasJson(await app.handle(new Request("http://localhost/nope")), 404, "not_found");
    await expectCaasJson(await app.handle(new Request("http://localhost/encrypt")), 405, "method_not_allowed");
    await expectCaasJson(await postJson(app, "/oracleinvocation", "{bad"), 400, "invalid_json");
    // A bug, whose internal_error line cannot be written either: still caas's JSON 500.
    const broken = testApp({ auditTrail: throwingTrail(), logger: throwingLogger });
    expect(await expectCaasJson(await sealCall(broken), 500)).toEqual(INTERNAL);
    expect(await expectCaasJson(await refusedCall(broken), 500)).toEqual(INTERNAL);
  });

  it("answers through the server's instrumentation, whose access log line throws, as the app does", async () => {
    const metrics = new Metrics();
    const app = testApp({ logger: throwingLogger, metrics });
    const handle = instrument(app.fetch, { metrics, logger: throwingLogger });
    await expectCaasJson(await handle(new Request("https://localhost/healthz")), 200);
    await expectCaasJson(await handle(new Request("https://localhost/nope")), 404, "not_found");
    const refused = new Request("https://localhost/encrypt", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await expectCaasJson(await handle(refused), 401, "unauthorized");
    expect(metrics.inFlight).toBe(0);
  });
});

describe("what the info log says of each answer", () => {
  it("logs refusals for auth and limits (401, 413) once each, with route, code and request id, and nothing for other 4xx or successes", async () => {
    const { lines, logger } = recordingLogger();
    const app = testApp({ logger, config: { maxBody: 512, batchMax: 2 } });
    const answers = [
      await sealCall(app),
      await postJson(app, "/oracleinvocation", { data: "x".repeat(600) }),
      await postJson(app, "/oracleinvocation/batch", { items: [{ data: "a" }, { data: "b" }, { data: "c" }] }),
      await refusedCall(app),
      await postJson(app, "/oracleinvocation", "{bad"),
      await app.handle(new Request("http://localhost/nope")),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 413, 413, 401, 400, 404]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const idOf = (index: number) => answers[index]?.headers.get(REQUEST_ID_HEADER);
    expect(logged).toEqual([
      expect.objectContaining({
        event: "request_refused",
        status: 413,
        code: "body_too_large",
        route: "/oracleinvocation",
        requestId: idOf(1),
      }),
      expect.objectContaining({
        event: "request_refused",
        status: 413,
        code: "batch_too_large",
        route: "/oracleinvocation/batch",
        requestId: idOf(2),
      }),
      expect.objectContaining({ event: "request_refused", status: 401, code: "unauthorized", route: "/encrypt", requestId: idOf(3) }),
    ]);
  });
});
