/**
 * One model of versioned keys, shared by the pseudonym secret and every keyring key.
 *
 * At any moment each version a file holds is one of:
 *   staged        it verifies and decrypts, but makes no digest or ciphertext: it waits for
 *                 `promote`, or for an activation time not reached yet;
 *   active        the one version that makes digests and ciphertexts;
 *   decrypt-only  it was active once and has been superseded; it still verifies and decrypts;
 *   retired       it verifies and decrypts nothing (the secret's `retired` mark, or a keyring
 *                 version below the key's minimum decryption version).
 *
 * The active version is the version not retired whose activation came last, at or before that
 * moment. Activation times are written in the file, so every instance holding the file switches at
 * the same moment, with no reload then. A version written without an activation (every version of
 * a file from before staged versions) counts as activated before any timed one, in version order,
 * so the newest of them is active, as it always was.
 *
 * This is Tink's keyset discipline (a version is rolled out before it becomes primary) with the
 * promotion itself scheduled in the file.
 */

export type VersionState = "staged" | "active" | "decrypt-only" | "retired";

/** How a file writes a version's activation: absent (activated long ago), "pending", or an RFC 3339 time. */
export const PENDING_ACTIVATION = "pending";

/** When a version becomes active, in ms since the epoch: -Infinity for "always was", +Infinity while pending. */
export type ActivationTime = number;

export interface VersionSchedule {
  readonly version: number;
  readonly activatesAt: ActivationTime;
  readonly retired: boolean;
}

/** A file's activation field as a time, or undefined when it is neither "pending" nor a valid date. */
export function parseActivation(field: string | undefined): ActivationTime | undefined {
  if (field === undefined) return Number.NEGATIVE_INFINITY;
  if (field === PENDING_ACTIVATION) return Number.POSITIVE_INFINITY;
  const at = Date.parse(field);
  return Number.isNaN(at) ? undefined : at;
}

/** The activation field a file writes for a time; undefined means the field is left out. */
export function activationField(at: ActivationTime): string | undefined {
  if (at === Number.NEGATIVE_INFINITY) return undefined;
  if (at === Number.POSITIVE_INFINITY) return PENDING_ACTIVATION;
  return new Date(at).toISOString();
}

function activatedLater(a: VersionSchedule, b: VersionSchedule): boolean {
  return a.activatesAt > b.activatesAt || (a.activatesAt === b.activatesAt && a.version > b.version);
}

/**
 * The versions of one key and when each becomes active. Immutable; the active version is worked
 * out again only when the clock passes the next activation, so asking costs a comparison.
 */
export class VersionTimeline {
  readonly #entries: readonly VersionSchedule[];
  #active: VersionSchedule | undefined;
  /** The active version holds for now in [#from, #until). */
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;

  constructor(entries: readonly VersionSchedule[]) {
    this.#entries = [...entries].sort((a, b) => a.version - b.version);
  }

  get versions(): readonly VersionSchedule[] {
    return this.#entries;
  }

  /** The active version at `now`, or undefined when no version not retired has been activated yet. */
  activeAt(now: number): number | undefined {
    if (now < this.#from || now >= this.#until) this.#settle(now);
    return this.#active?.version;
  }

  stateOf(version: number, now: number): VersionState | undefined {
    const entry = this.#entries.find((candidate) => candidate.version === version);
    if (entry === undefined) return undefined;
    if (entry.retired) return "retired";
    if (this.activeAt(now) === version) return "active";
    return entry.activatesAt > now ? "staged" : "decrypt-only";
  }

  /** The versions staged at `now`: held, trusted, not yet making anything. */
  stagedAt(now: number): readonly number[] {
    return this.#entries.filter((entry) => !entry.retired && entry.activatesAt > now).map((entry) => entry.version);
  }

  /** The next moment after `now` at which the active version may change, if one is scheduled. */
  nextActivationAfter(now: number): number | undefined {
    let next: number | undefined;
    for (const entry of this.#entries) {
      if (entry.retired || entry.activatesAt <= now || entry.activatesAt === Number.POSITIVE_INFINITY) continue;
      if (next === undefined || entry.activatesAt < next) next = entry.activatesAt;
    }
    return next;
  }

  #settle(now: number): void {
    let active: VersionSchedule | undefined;
    for (const entry of this.#entries) {
      if (entry.retired || entry.activatesAt > now) continue;
      if (active === undefined || activatedLater(entry, active)) active = entry;
    }
    this.#active = active;
    this.#from = active?.activatesAt ?? Number.NEGATIVE_INFINITY;
    this.#until = this.nextActivationAfter(now) ?? Number.POSITIVE_INFINITY;
  }
}

/** A duration as the CLI takes it: `0`, or a whole number followed by s, m, h or d (`90s`, `10m`, `24h`). */
export function parseDuration(text: string): number | undefined {
  const match = /^(0|[1-9]\d{0,8})(s|m|h|d)?$/.exec(text);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  if (match[2] === undefined) return amount === 0 ? 0 : undefined;
  const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return amount * unitMs;
}

/** An RFC 3339 date-time with a zone (`2026-12-07T10:00:00Z`, `…+01:00`), as ms since the epoch. */
export function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const at = Date.parse(text.replace(" ", "T"));
  return Number.isNaN(at) ? undefined : at;
}
