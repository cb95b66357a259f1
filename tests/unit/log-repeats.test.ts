/**
 * A flood of refused requests grows the log with time, not with requests: each kind of
 * per-request line (event, code, API key name) is written in full a few times per window, then
 * counted and summarised, with nothing lost from the counts, and no line of another kind, a new
 * refusal or any other event, is ever held back.
 */
import { describe, expect, it } from "bun:test";
import { createLogger, type LogFields, type RepeatLimits, summarisingRepeats } from "../../src/log.ts";

type Line = LogFields & { readonly event: string; readonly level: string };

function recording(limits: RepeatLimits) {
  const lines: Line[] = [];
  const logger = summarisingRepeats(
    createLogger("info", (text) => lines.push(JSON.parse(text) as Line)),
    limits,
  );
  return { lines, logger };
}

/** What the lines say was refused, by kind: lines in full plus the counts of the summaries. */
function accounted(lines: readonly Line[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const event = line.event.replace(/_repeats$/, "");
    if (event !== "request_refused" && event !== "request_failed") continue;
    const kind = `${event} ${String(line.code)} ${String(line.apiKeyName ?? "")}`;
    counts[kind] = (counts[kind] ?? 0) + (line.event.endsWith("_repeats") ? Number(line.count) : 1);
  }
  return counts;
}

const PER_REQUEST: readonly { readonly event: string; readonly status: number; readonly code: string; readonly apiKeyName?: string }[] = [
  { event: "request_refused", status: 401, code: "unauthorized" },
  { event: "request_refused", status: 403, code: "forbidden", apiKeyName: "reader" },
  { event: "request_refused", status: 403, code: "forbidden", apiKeyName: "writer" },
  { event: "request_refused", status: 413, code: "body_too_large" },
  { event: "request_refused", status: 429, code: "rate_limited" },
  { event: "request_refused", status: 429, code: "rate_limited", apiKeyName: "busy" },
  { event: "request_failed", status: 503, code: "busy" },
  { event: "request_failed", status: 503, code: "audit_unavailable", apiKeyName: "writer" },
];

describe("per-request log lines under a flood", () => {
  it("writes each kind a few times per window and counts the rest: lines grow with windows, not with requests", async () => {
    const limits = { intervalMs: 100, linesPerKind: 3, kinds: 256 };
    const { lines, logger } = recording(limits);
    const perKind = 5_000;
    for (let round = 0; round < perKind; round += 1) {
      for (const { event, ...fields } of PER_REQUEST) logger.info(event, { ...fields, route: "/encrypt", requestId: `r${round}` });
    }
    // Within the window: each kind's first lines only.
    expect(lines.length).toBe(PER_REQUEST.length * limits.linesPerKind);
    await Bun.sleep(limits.intervalMs * 1.5);
    // The window's end: one summary per kind, and every refusal accounted for.
    expect(lines.length).toBe(PER_REQUEST.length * (limits.linesPerKind + 1));
    const expected = Object.fromEntries(
      PER_REQUEST.map(({ event, code, apiKeyName }) => [`${event} ${code} ${apiKeyName ?? ""}`, perKind]),
    );
    expect(accounted(lines)).toEqual(expected);
    const summary = lines.find(
      (line) => line.event === "request_refused_repeats" && line.code === "forbidden" && line.apiKeyName === "writer",
    );
    expect(summary).toMatchObject({ level: "info", status: 403, count: perKind - limits.linesPerKind });
    expect(Date.parse(String(summary?.since))).toBeGreaterThan(0);
    // A summary names no request: no id, no route.
    expect(summary?.requestId).toBeUndefined();
  });

  it("writes a kind not seen in this window in full at once, in the middle of a flood of another", () => {
    const { lines, logger } = recording({ intervalMs: 60_000, linesPerKind: 2, kinds: 256 });
    for (let index = 0; index < 1_000; index += 1) logger.info("request_refused", { status: 401, code: "unauthorized" });
    for (const { event, ...fields } of PER_REQUEST.slice(1)) {
      const before = lines.length;
      logger.info(event, fields);
      expect(lines.slice(before)).toEqual([expect.objectContaining({ event, ...fields })]);
    }
  });

  for (const [level, event] of [
    ["error", "reload_failed"],
    ["warn", "worker_exited"],
    ["info", "reloaded"],
    ["error", "internal_error"],
  ] as const) {
    it(`never holds back ${event} (${level}), and says the refusals held so far before it`, () => {
      const { lines, logger } = recording({ intervalMs: 60_000, linesPerKind: 1, kinds: 256 });
      for (let index = 0; index < 500; index += 1) logger.info("request_refused", { status: 401, code: "unauthorized" });
      logger[level](event, { reason: "x" });
      expect(lines.map((line) => [line.event, line.count])).toEqual([
        ["request_refused", undefined],
        ["request_refused_repeats", 499],
        [event, undefined],
      ]);
      // The window goes on: the kind is not written in full again before it ends.
      logger.info("request_refused", { status: 401, code: "unauthorized" });
      expect(lines).toHaveLength(3);
    });
  }

  it("stays bounded when refusals name more API keys than it tells apart: the rest share one kind per code", async () => {
    const limits = { intervalMs: 100, linesPerKind: 1, kinds: 16 };
    const { lines, logger } = recording(limits);
    for (let round = 0; round < 20; round += 1) {
      for (let key = 0; key < 1_000; key += 1) logger.info("request_refused", { status: 403, code: "forbidden", apiKeyName: `key-${key}` });
    }
    await Bun.sleep(limits.intervalMs * 1.5);
    // 16 named kinds and one shared, each in full once and summarised once.
    expect(lines.length).toBe(2 * (limits.kinds + 1));
    const total = Object.values(accounted(lines)).reduce((sum, count) => sum + count, 0);
    expect(total).toBe(20 * 1_000);
    expect(lines.filter((line) => line.apiKeyName === "*").map((line) => line.event)).toEqual(["request_refused_repeats"]);
  });
});
