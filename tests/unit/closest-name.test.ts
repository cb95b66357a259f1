import { describe, expect, it } from "bun:test";
import { closestName, editDistance, likelyMeant } from "../../src/closest-name.ts";

describe("the name most likely meant", () => {
  it("counts a swap of two neighbouring letters as one slip", () => {
    expect(editDistance("kyes", "keys")).toBe(1);
    expect(editDistance("lsit", "list")).toBe(1);
    expect(editDistance("chek", "check")).toBe(1);
    expect(editDistance("keys", "keys")).toBe(0);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("always names the nearest candidate, the first of equals", () => {
    expect(closestName("CAAS_PROT", ["CAAS_HOST", "CAAS_PORT"])).toBe("CAAS_PORT");
    expect(closestName("ab", ["ax", "xb"])).toBe("ax");
    expect(closestName("x", [])).toBeUndefined();
  });

  it("suggests only a candidate within a third of the name's length, so far-off guesses are not made", () => {
    expect(likelyMeant("kyes", ["serve", "keys", "secret"])).toBe("keys");
    expect(likelyMeant("frobnicate", ["serve", "keys", "secret", "decrypt", "version"])).toBeUndefined();
    expect(likelyMeant("nonsense", ["serve", "keys", "secret", "decrypt", "version"])).toBeUndefined();
  });
});
