/**
 * When a version becomes active, as `rotate` (--activate-in / --activate-at) and `promote`
 * (--in / --at) take it, and how the commands say what happens next. Shared by the secret and
 * keyring commands, whose versions follow one model (credentials/key-versions.ts).
 */
import { parseDuration, parseTimestamp, type VersionState } from "../credentials/key-versions.ts";
import { UsageError } from "../errors.ts";

/** The two spellings of one choice: a duration from now, or a time. */
export interface ActivationOptions {
  readonly in: string;
  readonly at: string;
}

export const ROTATE_ACTIVATION: ActivationOptions = { in: "activate-in", at: "activate-at" };
export const PROMOTE_ACTIVATION: ActivationOptions = { in: "in", at: "at" };

/**
 * The activation time the options ask for, `fallback` when neither is given; a duration that is
 * not `0` or N followed by s, m, h or d, or a time that is not RFC 3339 with a zone, is a usage error.
 */
export function activationFrom(
  values: Readonly<Record<string, unknown>>,
  options: ActivationOptions,
  fallback: number,
  now: number = Date.now(),
): number {
  const after = values[options.in];
  const at = values[options.at];
  if (typeof after === "string" && typeof at === "string") throw new UsageError(`give --${options.in} or --${options.at}, not both`);
  if (typeof after === "string") {
    const ms = parseDuration(after);
    if (ms === undefined) throw new UsageError(`--${options.in} takes a duration: 0, or a whole number and s, m, h or d (90s, 10m, 24h)`);
    return now + ms;
  }
  if (typeof at === "string") {
    const time = parseTimestamp(at);
    if (time === undefined) throw new UsageError(`--${options.at} takes an RFC 3339 time with a zone (2026-12-07T10:00:00Z)`);
    return time;
  }
  return fallback;
}

/** How a list shows an activation: "-" for a version active since it was written, "pending", or the time. */
export function activationText(at: number): string {
  if (at === Number.NEGATIVE_INFINITY) return "-";
  if (at === Number.POSITIVE_INFINITY) return "pending";
  return new Date(at).toISOString();
}

/** What a rotate or promote says of the version it changed. */
export interface VersionWords {
  /** "secret version 2", "version 3 of \"orders\"". */
  readonly subject: string;
  /** What the active version makes: "pseudonyms", "ciphertexts". */
  readonly makes: string;
  /** What a staged version already does: "verifies", "decrypts". */
  readonly trusted: string;
  /** The command that promotes it. */
  readonly promote: string;
}

/** The one line a rotate or promote prints: what the version's state means, and what to do next. */
export function nextStepLine(words: VersionWords, state: VersionState | undefined, at: number): string {
  if (state === "active") return `${words.subject} is active: it makes new ${words.makes} on every instance that has loaded it.`;
  if (at === Number.POSITIVE_INFINITY)
    return `${words.subject} staged: it ${words.trusted} on every instance that has reloaded; promote it once all have (${words.promote}).`;
  return `${words.subject} staged until ${new Date(at).toISOString()}: every instance that has loaded it by then switches to it at that time, with no reload; check that all have (the credentials fingerprint) before then.`;
}
