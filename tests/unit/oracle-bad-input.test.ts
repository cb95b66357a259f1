/**
 * The bad-input table (tests/cases/bad-input.ts) through the app: every case is a JSON 4xx with
 * its stable code, Cache-Control: no-store, and nothing of the input in it. The end-to-end suite
 * runs the same table against dist/caas over TLS.
 */
import { describe, expect, it } from "bun:test";
import { answerProblems, BAD_INPUT_CANARY, BAD_INPUT_MAX_BODY, badInputCases, KNOWN_BOX, requestFor } from "../cases/bad-input.ts";
import { testApp } from "./helpers.ts";

const app = testApp({ config: { maxBody: BAD_INPUT_MAX_BODY } });
const BASE = "http://localhost";

describe("bad input to the oracle", () => {
  it("has a case for every failure the issue names, with unique names", () => {
    const names = badInputCases.map((testCase) => testCase.name);
    expect(new Set(names).size).toBe(names.length);
    const codes = new Set(badInputCases.map((testCase) => testCase.expectCode));
    for (const code of [
      "invalid_json",
      "empty_body",
      "invalid_body",
      "invalid_utf8",
      "invalid_text",
      "body_too_large",
      "unsupported_media_type",
      "method_not_allowed",
      "not_found",
      "invalid_encoding",
      "authentication_failed",
      "plaintext_not_utf8",
    ]) {
      expect(codes).toContain(code);
    }
  });

  it("opens the known box the decrypt cases tamper with, so each case is wrong in one part only", async () => {
    const answer = await app.handle(
      new Request(`${BASE}/oracleinvocation/decrypt`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ data: KNOWN_BOX.data, key: KNOWN_BOX.key, mac: KNOWN_BOX.mac, nonce: KNOWN_BOX.nonce }),
      }),
    );
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ data: KNOWN_BOX.plaintext });
  });

  it("has a checker that notices an echo, a wrong code, a missing no-store and a body that is not the error shape", async () => {
    const testCase = badInputCases[0]!;
    const answer = (body: string, headers: Record<string, string>) => new Response(body, { status: testCase.expectStatus, headers });
    const json = { "content-type": "application/json", "cache-control": "no-store" };
    const echo = JSON.stringify({ error: { code: testCase.expectCode, message: `bad: ${BAD_INPUT_CANARY.toUpperCase()}` } });
    expect(await answerProblems(testCase, answer(echo, json))).toEqual(["the answer repeats the input (canary found)"]);
    const wrongCode = JSON.stringify({ error: { code: "other", message: "m" } });
    expect(await answerProblems(testCase, answer(wrongCode, json))).toEqual([`code 'other', expected '${testCase.expectCode}'`]);
    const good = JSON.stringify({ error: { code: testCase.expectCode, message: "m" } });
    expect(await answerProblems(testCase, answer(good, { "content-type": "application/json" }))).toEqual(["cache-control 'null'"]);
    const extra = JSON.stringify({ error: { code: testCase.expectCode, message: "m" }, input: "x" });
    expect(await answerProblems(testCase, answer(extra, json))).toEqual([`the body is not {"error": {"code", "message"}} alone`]);
    expect(await answerProblems(testCase, answer(good, json))).toEqual([]);
  });

  it("sends a body over the limit only in the over-the-limit case", () => {
    for (const testCase of badInputCases) {
      const size = typeof testCase.body === "string" ? new TextEncoder().encode(testCase.body).length : testCase.body.length;
      expect(size > BAD_INPUT_MAX_BODY).toBe(testCase.expectCode === "body_too_large");
    }
  });

  for (const testCase of badInputCases) {
    it(`answers ${testCase.name} with ${testCase.expectStatus} ${testCase.expectCode}, as JSON, uncached, without the input`, async () => {
      const answer = await app.handle(requestFor(testCase, BASE));
      expect(await answerProblems(testCase, answer)).toEqual([]);
    });
  }

  it("answers a chunked body over the limit (no Content-Length) with 413", async () => {
    const chunk = new TextEncoder().encode(`"${BAD_INPUT_CANARY}${"x".repeat(200)}",`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"data": ['));
        for (let i = 0; i < 20; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const answer = await app.handle(
      new Request(`${BASE}/oracleinvocation`, { method: "POST", headers: { "content-type": "application/json" }, body: stream }),
    );
    const overLimit = badInputCases.find((testCase) => testCase.expectCode === "body_too_large");
    expect(overLimit).toBeDefined();
    if (overLimit !== undefined) expect(await answerProblems(overLimit, answer)).toEqual([]);
  });
});
