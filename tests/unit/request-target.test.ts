/**
 * The request-target as Bun hands it over in request.url (absolute when the Host is usable, the
 * bare target when it is not, host:port for CONNECT), and the error path that answers about it:
 * nothing here may throw on a request's contents, and a bug while answering is still a JSON 500.
 * tests/e2e/raw-socket.e2e.test.ts sends the same targets to dist/caas over TLS.
 */
import { describe, expect, it } from "bun:test";
import { errorToResponse } from "../../src/http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../../src/http/headers.ts";
import { instrument } from "../../src/server/instrument.ts";
import { pathOf, targetProblem } from "../../src/http/paths.ts";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/http/metrics.ts";

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
    const response = errorToResponse(
      "NOT_FOUND",
      new Error("not found"),
      new Request("https://localhost/nope"),
      failingLookup,
      logger,
      "id-1",
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
    const handle = instrument(app, metrics, logger);
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
