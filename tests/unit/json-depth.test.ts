import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { jsonDepthExceeds, MAX_JSON_DEPTH } from "../../src/http/json-depth.ts";

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (typeof value === "object" && value !== null) return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

describe("jsonDepthExceeds", () => {
  it("agrees with the real depth of any JSON value, strings full of brackets, quotes and backslashes included", () => {
    const tricky = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", "\u2028") });
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        tricky,
        fc.integer(),
        fc.constant(null),
        fc.array(tie("node"), { maxLength: 3 }),
        fc.dictionary(tricky, tie("node"), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 6 }), (json, limit) => {
        expect(jsonDepthExceeds(JSON.stringify(json), limit)).toBe(depthOf(json) > limit);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a 1 MiB body of opening brackets, and does it quickly", () => {
    const started = performance.now();
    expect(jsonDepthExceeds("[".repeat(1024 * 1024))).toBe(true);
    expect(jsonDepthExceeds(`{"a":${'{"a":'.repeat(MAX_JSON_DEPTH)}1${"}".repeat(MAX_JSON_DEPTH + 1)}`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("passes a body at the limit, and a 1 MiB string field in linear time", () => {
    expect(jsonDepthExceeds("[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH))).toBe(false);
    const big = JSON.stringify({ data: '\\"[{'.repeat(256 * 1024) });
    const started = performance.now();
    expect(jsonDepthExceeds(big)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
