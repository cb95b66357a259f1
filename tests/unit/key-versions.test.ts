import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import {
  activationField,
  parseActivation,
  parseDuration,
  parseTimestamp,
  type VersionSchedule,
  VersionTimeline,
} from "../../src/credentials/key-versions.ts";
import { makeSecretRing, newSecretVersion } from "../../src/credentials/secret-ring.ts";
import { pseudonymFor, verifyPseudonym } from "../../src/modules/pseudonym/profiles/standard.ts";
import { SecretVersionRetired, SecretVersionUnknown } from "../../src/errors.ts";
import { README_USER } from "../../support/constants.ts";

const NOW = Date.parse("2026-12-07T10:00:00.000Z");
const LEGACY = Number.NEGATIVE_INFINITY;
const PENDING = Number.POSITIVE_INFINITY;

function timeline(...entries: [version: number, activatesAt: number, retired?: boolean][]): VersionTimeline {
  return new VersionTimeline(entries.map(([version, activatesAt, retired = false]) => ({ version, activatesAt, retired })));
}

describe("the active version", () => {
  it("is the newest of the versions written before staged versions existed, as it always was", () => {
    expect(timeline([1, LEGACY], [2, LEGACY], [3, LEGACY]).activeAt(NOW)).toBe(3);
  });

  it("never is a staged version waiting for promotion", () => {
    const versions = timeline([1, LEGACY], [2, PENDING]);
    expect(versions.activeAt(NOW)).toBe(1);
    expect(versions.stateOf(2, NOW)).toBe("staged");
    expect(versions.stagedAt(NOW)).toEqual([2]);
  });

  it("switches at the activation time to the millisecond, with nothing else asked", () => {
    const versions = timeline([1, LEGACY], [2, NOW + 5_000]);
    expect(versions.activeAt(NOW + 4_999)).toBe(1);
    expect(versions.stateOf(2, NOW + 4_999)).toBe("staged");
    expect(versions.activeAt(NOW + 5_000)).toBe(2);
    expect(versions.stateOf(1, NOW + 5_000)).toBe("decrypt-only");
    expect(versions.nextActivationAfter(NOW)).toBe(NOW + 5_000);
    expect(versions.nextActivationAfter(NOW + 5_000)).toBeUndefined();
  });

  it("follows the clock both ways (a clock set back makes the earlier version active again)", () => {
    const versions = timeline([1, LEGACY], [2, NOW]);
    expect(versions.activeAt(NOW + 1)).toBe(2);
    expect(versions.activeAt(NOW - 1)).toBe(1);
    expect(versions.activeAt(NOW + 1)).toBe(2);
  });

  it("is an older version promoted again (a rollback): the latest activation wins, not the highest number", () => {
    expect(timeline([1, NOW - 10], [2, NOW - 20]).activeAt(NOW)).toBe(1);
  });

  it("never is a retired version, whatever its activation", () => {
    const versions = timeline([1, LEGACY], [2, NOW - 1, true]);
    expect(versions.activeAt(NOW)).toBe(1);
    expect(versions.stateOf(2, NOW)).toBe("retired");
    expect(timeline([1, LEGACY, true]).activeAt(NOW)).toBeUndefined();
  });

  it("has no state for a version the file does not hold", () => {
    expect(timeline([1, LEGACY]).stateOf(2, NOW)).toBeUndefined();
  });

  it("is, for any schedule and moment, the version not retired activated last at or before it", () => {
    const schedule = fc.uniqueArray(
      fc.record({
        version: fc.integer({ min: 1, max: 20 }),
        activatesAt: fc.oneof(fc.constant(LEGACY), fc.constant(PENDING), fc.integer({ min: NOW - 100, max: NOW + 100 })),
        retired: fc.boolean(),
      }),
      { selector: (entry) => entry.version, minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(
        schedule,
        fc.array(fc.integer({ min: NOW - 150, max: NOW + 150 }), { minLength: 1, maxLength: 6 }),
        (entries, moments) => {
          const versions = new VersionTimeline(entries);
          for (const moment of moments) {
            const eligible = entries.filter((entry: VersionSchedule) => !entry.retired && entry.activatesAt <= moment);
            const expected = eligible.sort((a, b) => b.activatesAt - a.activatesAt || b.version - a.version)[0]?.version;
            expect(versions.activeAt(moment)).toBe(expected);
            const states = entries.map((entry) => versions.stateOf(entry.version, moment));
            expect(states.filter((state) => state === "active").length).toBe(expected === undefined ? 0 : 1);
          }
        },
      ),
    );
  });
});

describe("activation fields and command-line times", () => {
  it("round-trips absent, pending and a time", () => {
    for (const at of [LEGACY, PENDING, NOW]) expect(parseActivation(activationField(at))).toBe(at);
    expect(activationField(LEGACY)).toBeUndefined();
    expect(activationField(PENDING)).toBe("pending");
    expect(parseActivation("next tuesday")).toBeUndefined();
  });

  it("takes durations of 0 or a whole number and a unit, nothing else", () => {
    expect([parseDuration("0"), parseDuration("90s"), parseDuration("10m"), parseDuration("24h"), parseDuration("2d")]).toEqual([
      0, 90_000, 600_000, 86_400_000, 172_800_000,
    ]);
    for (const bad of ["", "10", "-5s", "1.5h", "10 m", "010s", "5w", "1e3s"]) expect(parseDuration(bad)).toBeUndefined();
  });

  it("takes RFC 3339 times with a zone only", () => {
    expect(parseTimestamp("2026-12-07T10:00:00Z")).toBe(NOW);
    expect(parseTimestamp("2026-12-07T11:00:00+01:00")).toBe(NOW);
    for (const bad of ["2026-12-07", "2026-12-07T10:00:00", "tomorrow", "2026-13-07T10:00:00Z"])
      expect(parseTimestamp(bad)).toBeUndefined();
  });
});

describe("the secret's versions", () => {
  const user = README_USER;
  const one = newSecretVersion(1);
  const staged = { ...newSecretVersion(2), activatesAt: PENDING };

  it("a staged version verifies its pseudonyms but makes none", () => {
    const before = makeSecretRing([one]);
    const during = makeSecretRing([one, staged]);
    const after = makeSecretRing([one, { ...staged, activatesAt: Date.now() - 1 }]);
    const made = pseudonymFor(during, user, "data");
    expect(made).toEqual(pseudonymFor(before, user, "data"));
    expect(made.version).toBe(1);
    const underTwo = pseudonymFor(after, user, "data");
    expect(underTwo.version).toBe(2);
    // Every instance that has loaded the staged version already verifies what the promoted one makes.
    expect(verifyPseudonym(during, { userId: user, data: "data", digestHex: underTwo.digest })).toBe(true);
    expect(verifyPseudonym(during, { userId: user, data: "data", digestHex: underTwo.digest, version: 2 })).toBe(true);
    expect(verifyPseudonym(during, { userId: user, data: "data", digestHex: underTwo.digest, version: 1 })).toBe(false);
  });

  it("a version this instance does not hold is unknown, never a match: false", () => {
    const made = pseudonymFor(makeSecretRing([one, { ...staged, activatesAt: Date.now() - 1 }]), user, "data");
    expect(() => verifyPseudonym(makeSecretRing([one]), { userId: user, data: "data", digestHex: made.digest, version: 2 })).toThrow(
      SecretVersionUnknown,
    );
  });

  it("a retired version named is retired, not a match: false", () => {
    const ring = makeSecretRing([{ ...one, retired: "2026-01-01T00:00:00.000Z" }, newSecretVersion(2)]);
    expect(() => verifyPseudonym(ring, { userId: user, data: "data", digestHex: "00", version: 1 })).toThrow(SecretVersionRetired);
  });
});
