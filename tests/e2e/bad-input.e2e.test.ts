/**
 * The bad-input table of tests/cases/bad-input.ts, sent to dist/caas over real TLS, so the
 * answers are checked as clients get them from the shipped binary, not only through app.handle().
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { answerProblems, BAD_INPUT_MAX_BODY, badInputCases, requestFor } from "../cases/bad-input.ts";
import { startCaas, type RunningCaas } from "./harness.ts";

let caas: RunningCaas;
beforeAll(async () => {
  caas = await startCaas({ env: { CAAS_MAX_BODY: String(BAD_INPUT_MAX_BODY) } });
});
afterAll(async () => {
  await caas.stop();
});

describe("dist/caas answers every bad input with a JSON 4xx", () => {
  for (const testCase of badInputCases) {
    it(testCase.name, async () => {
      const request = requestFor(testCase, caas.url);
      const answer = await caas.request(new URL(request.url).pathname + new URL(request.url).search, {
        method: request.method,
        headers: request.headers,
        body: request.body === null ? null : new Uint8Array(await request.arrayBuffer()),
      });
      expect(await answerProblems(testCase, answer)).toEqual([]);
    });
  }

  it("is still up and serving after all of them", async () => {
    const answer = await caas.post("/oracleinvocation/", { data: "still here" });
    expect(answer.status).toBe(200);
  });

  it("wrote no internal_error to its log", () => {
    expect(caas.output()).not.toContain("internal_error");
  });
});
