/**
 * A flood of refused requests against the real binary: the info log grows with time, not with
 * requests (each kind of refusal in full a few times, the rest counted in a summary that accounts
 * for every one), and a line of another kind written meanwhile (reload_failed) is not lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPEAT_LIMITS } from "../../src/log.ts";
import { addApiKey, logLines, startCaas, tempDir, waitForLog, type RunningCaas } from "./harness.ts";

const REFUSED = 4_000;
const CONCURRENCY = 32;

interface Line {
  readonly event: string;
  readonly code?: string;
  readonly apiKeyName?: string;
  readonly count?: number;
}

const lines = logLines<Line>;

describe("a flood of refused requests", () => {
  let caas: RunningCaas;
  let keysFile: string;
  let scopedKey: string;

  beforeAll(async () => {
    keysFile = join(tempDir(), "keys.json");
    scopedKey = addApiKey("pseudonym-only", keysFile);
    caas = await startCaas({ env: { CAAS_API_KEYS_FILE: keysFile, CAAS_LOG_LEVEL: "info" } });
  });
  afterAll(async () => {
    await caas.stop();
  });

  it("is logged in a bounded number of lines that account for every refusal, and hides no reload_failed", async () => {
    const before = lines(caas).length;
    let sent = 0;
    const statuses: Record<number, number> = {};
    const client = async () => {
      while (sent < REFUSED) {
        sent += 1;
        // Two kinds: a wrong key (401, no key name) and a valid key without the keyring scope (403, named).
        const headers: Record<string, string> =
          sent % 2 === 0 ? { "x-api-key": `caas_wrong_${sent}` } : { authorization: `Bearer ${scopedKey}` };
        const answer = await caas.post("/keyring/orders/encrypt", { data: "x" }, headers);
        await answer.arrayBuffer();
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    expect(statuses).toEqual({ 401: REFUSED / 2, 403: REFUSED / 2 });

    // A reload that fails, right after the flood: its lines come out at once, the held refusals summarised before them.
    writeFileSync(keysFile, "not json");
    caas.process.kill("SIGHUP");
    await waitForLog(caas, "reload_failed");

    const logged = lines(caas).slice(before);
    const refusals = logged.filter((line) => line.event.startsWith("request_refused"));
    // Each kind in full at most linesPerKind times per window, and one summary per window; a few windows at most.
    expect(refusals.length).toBeLessThanOrEqual(2 * 3 * (REPEAT_LIMITS.linesPerKind + 1));
    const accounted = (code: string) =>
      refusals
        .filter((line) => line.code === code)
        .reduce((sum, line) => sum + (line.event === "request_refused_repeats" ? (line.count ?? 0) : 1), 0);
    expect({ unauthorized: accounted("unauthorized"), forbidden: accounted("forbidden") }).toEqual({
      unauthorized: REFUSED / 2,
      forbidden: REFUSED / 2,
    });
    expect(refusals.filter((line) => line.code === "forbidden").every((line) => line.apiKeyName === "pseudonym-only")).toBe(true);
    // The summaries come before the reload's lines, which follow them at once.
    const events = logged.map((line) => line.event);
    expect(events.lastIndexOf("request_refused_repeats")).toBeLessThan(events.indexOf("reload_requested"));
    expect(events).toContain("reload_failed");
    console.log(`${REFUSED} refused requests: ${refusals.length} request_refused lines, ${logged.length} log lines in all`);
  }, 60_000);
});
