/**
 * The process's budget of request-body bytes (CAAS_MAX_BODY_IN_FLIGHT), through the real body
 * reader: a body that does not fit is refused before it is read, and whatever becomes of a body
 * (parsed, refused, cut off, failed mid-stream) its bytes go back, so the budget cannot leak.
 */
import { describe, expect, it } from "bun:test";
import { defaultConfig, loadConfig } from "../../src/config.ts";
import { BodyBudget } from "../../src/http/body-budget.ts";
import { BodyBudgetExhausted, BodyTooLarge, CaasError, type ErrorBody, InvalidJson } from "../../src/errors.ts";
import { answerFor } from "../../src/http/error-answers.ts";
import { readJsonBody } from "../../src/http/json-body.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { testApp } from "./helpers.ts";

const LIMIT = 1024;

function declared(body: string): Request {
  return new Request("http://localhost/x", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(new TextEncoder().encode(body).byteLength) },
    body,
  });
}

/** A chunked body: each chunk handed over as the reader asks, then `end` (done, or an error like a dropped connection). */
function chunked(chunks: readonly string[], end: "done" | "error" = "done"): Request {
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk !== undefined) controller.enqueue(new TextEncoder().encode(chunk));
      else if (end === "done") controller.close();
      else controller.error(new DOMException("The connection was closed.", "AbortError"));
    },
  });
  return new Request("http://localhost/x", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
    duplex: "half",
  } as RequestInit);
}

async function outcome(read: Promise<unknown>): Promise<string> {
  try {
    await read;
    return "parsed";
  } catch (error) {
    return error instanceof CaasError ? error.code : error instanceof Error ? error.name : "thrown";
  }
}

describe("BodyBudget", () => {
  it("never lends more than its limit, and takes back what was lent", () => {
    const budget = new BodyBudget(100);
    expect(budget.reserve(60)).toBe(true);
    expect(budget.reserve(41)).toBe(false);
    expect(budget.reserve(40)).toBe(true);
    expect(budget.bytesInFlight).toBe(100);
    expect(budget.refusals).toBe(1);
    budget.release(60);
    budget.release(40);
    expect(budget.bytesInFlight).toBe(0);
    expect(budget.reserve(100)).toBe(true);
  });
});

describe("reading a body under the budget", () => {
  it("refuses a declared body that does not fit with 503 busy and Retry-After, before reading it", async () => {
    const budget = new BodyBudget(LIMIT);
    expect(budget.reserve(LIMIT - 10)).toBe(true);
    const request = declared(JSON.stringify({ data: "x".repeat(20) }));
    const error = await readJsonBody(request, LIMIT, { budget }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(BodyBudgetExhausted);
    const busy = answerFor(error as BodyBudgetExhausted);
    expect({
      status: busy.status,
      code: ((await busy.json()) as ErrorBody).error.code,
      retryAfter: busy.headers.get("retry-after"),
    }).toEqual({ status: 503, code: "busy", retryAfter: "1" });
    expect(request.bodyUsed).toBe(false);
    expect(budget.bytesInFlight).toBe(LIMIT - 10);
  });

  it("holds a declared body's length while it is read, and gives it back once parsed", async () => {
    const budget = new BodyBudget(LIMIT);
    const body = JSON.stringify({ data: "held" });
    const request = declared(body);
    const reading = readJsonBody(request, LIMIT, { budget });
    const heldDuringRead = budget.bytesInFlight;
    expect(await reading).toEqual({ data: "held" });
    expect(heldDuringRead).toBe(body.length);
    expect(budget.bytesInFlight).toBe(0);
  });

  it("reserves a chunked body chunk by chunk, and refuses it with 503 busy at the chunk that does not fit", async () => {
    const budget = new BodyBudget(100);
    expect(await outcome(readJsonBody(chunked(['{"data":"', "x".repeat(40), '"}']), LIMIT, { budget }))).toBe("parsed");
    expect(budget.reserve(50)).toBe(true);
    expect(await outcome(readJsonBody(chunked(['{"data":"', "x".repeat(40), "x".repeat(40), '"}']), LIMIT, { budget }))).toBe("busy");
    expect(budget.bytesInFlight).toBe(50);
  });

  // Every way a body can end, each leaving the budget as it found it.
  const endings: readonly (readonly [string, () => Request, string])[] = [
    ["parsed (declared length)", () => declared('{"data":"x"}'), "parsed"],
    ["parsed (chunked)", () => chunked(['{"data":', '"x"}']), "parsed"],
    ["not JSON (declared length)", () => declared("{not json"), new InvalidJson().code],
    ["not JSON (chunked)", () => chunked(["{not", " json"]), "invalid_json"],
    ["empty (declared length)", () => declared(""), "empty_body"],
    ["over CAAS_MAX_BODY (declared length)", () => declared(`"${"x".repeat(LIMIT)}"`), new BodyTooLarge(LIMIT).code],
    ["over CAAS_MAX_BODY (chunked)", () => chunked(Array.from({ length: 20 }, () => "x".repeat(100))), "body_too_large"],
    ["cut off mid-stream (the client went away or timed out)", () => chunked(['{"data":', '"x'], "error"), "AbortError"],
  ];
  for (const [ending, request, expected] of endings) {
    it(`gives every byte back when the body is ${ending}`, async () => {
      const budget = new BodyBudget(LIMIT * 4);
      const got = await outcome(readJsonBody(request(), LIMIT, { budget }));
      expect(got).toBe(expected);
      expect(budget.bytesInFlight).toBe(0);
    });
  }
});

describe("the app", () => {
  const STANDARD_KEY = "standard-key-for-tests-0123456789";
  function app(maxBodyInFlight: number) {
    const metrics = new Metrics();
    return {
      metrics,
      app: testApp({ apiKeys: [{ name: "main-server", key: STANDARD_KEY }], config: { maxBody: 1024, maxBodyInFlight }, metrics }),
    };
  }

  it("reports the budget in the metrics: the bytes held, the limit, and the refusals", () => {
    const { metrics } = app(4096);
    const { samples } = metrics.snapshot();
    expect(samples.caas_body_bytes_in_flight).toEqual({ "": 0 });
    expect(samples.caas_body_bytes_in_flight_limit).toEqual({ "": 4096 });
    expect(samples.caas_body_budget_refused_total).toEqual({ "": 0 });
  });

  it("answers 503 busy in JSON with Retry-After on every body-reading route once the budget is spent", async () => {
    const { app: caas, metrics } = app(1024);
    // Spend the app's budget as held bodies would, through the reading the app reports.
    const budget = metrics.bodyBudget as BodyBudget;
    expect(budget.reserve(1024)).toBe(true);
    const bodyRoutes = caas.routes.filter((route) => route.method === "POST").map((route) => route.path);
    expect(bodyRoutes.length).toBeGreaterThan(5);
    for (const path of bodyRoutes) {
      const answer = await caas.handle(
        new Request(`http://localhost${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": "2" },
          body: "{}",
        }),
      );
      expect({ path, status: answer.status, retryAfter: answer.headers.get("retry-after"), body: await answer.json() }).toEqual({
        path,
        status: 503,
        retryAfter: "1",
        body: { error: { code: "busy", message: expect.any(String) } },
      });
    }
    expect(budget.refusals).toBe(bodyRoutes.length);
    expect((await caas.handle(new Request("http://localhost/healthz"))).status).toBe(200);
  });
});

describe("CAAS_MAX_BODY_IN_FLIGHT", () => {
  it("defaults to 64 MiB", () => {
    expect(defaultConfig().maxBodyInFlight).toBe(64 * 1024 * 1024);
  });

  it("must be at least CAAS_MAX_BODY, or no body of the largest size could ever be read", () => {
    expect(() => loadConfig({ flags: {}, env: { CAAS_MAX_BODY: "2048", CAAS_MAX_BODY_IN_FLIGHT: "1024" } })).toThrow(
      "CAAS_MAX_BODY_IN_FLIGHT: 1024 is less than CAAS_MAX_BODY (2048)",
    );
    expect(loadConfig({ flags: {}, env: { CAAS_MAX_BODY: "2048", CAAS_MAX_BODY_IN_FLIGHT: "2048" } }).maxBodyInFlight).toBe(2048);
  });
});
