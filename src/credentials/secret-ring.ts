/**
 * The pseudonym server secret on disk: a JSON file of numbered versions, newest last.
 *
 *   {"versions":[{"version":1,"created":"2025-01-01T00:00:00.000Z","retired":"2025-06-01T00:00:00.000Z","secret":"…"},
 *                {"version":2,"created":"2025-03-01T00:00:00.000Z","secret":"<base64 of 32 bytes>"},
 *                {"version":3,"created":"2025-09-01T00:00:00.000Z","activation":"pending","secret":"…"}]}
 *
 * Each version is staged, active, decrypt-only or retired (key-versions.ts): the active version
 * makes pseudonyms, every version not retired verifies them, so a rotation never breaks a stored
 * pseudonym, and a staged version verifies on every instance before any instance makes a
 * pseudonym with it. Retiring a version (`caas secret retire`) is how the operator says no stored
 * pseudonym needs it any more: it stops verifying; the active version cannot be retired. The file
 * is the one thing whose leak undoes the service, so it is written 0600 and atomically, and a
 * file that group or others can read is refused rather than used.
 */

import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { EncodingError, fromBase64, toBase64 } from "../crypto/encoding.ts";
import { type ActivationTime, activationField, PENDING_ACTIVATION, parseActivation, VersionTimeline } from "./key-versions.ts";
import { privateFileTarget, type PrivateFileRules, readPrivateFile, withPrivateFileLock, writePrivateFile } from "../files/private-file.ts";
import { asStoreErrors, loadsBack, storeErrors, StoreFileError } from "../files/store-errors.ts";

export const SECRET_BYTES = 32;
/**
 * Nobody else may even read it. A version as caas writes it takes at most about 200 bytes (with
 * its activation and retired dates), so MAX_SECRET_VERSIONS fit in 4 MiB and the count is the
 * limit reached first.
 */
const SECRET_FILE_RULES: PrivateFileRules = { forbiddenModeBits: 0o077, maxBytes: 4 * 1024 * 1024 };
export const MAX_SECRET_VERSIONS = 10_000;
/** The highest version the file format holds. */
export const MAX_SECRET_VERSION = 2 ** 31 - 1;

export interface SecretVersion {
  readonly version: number;
  readonly created: string;
  /** When it was retired: from then on it verifies nothing. Absent while it verifies. */
  readonly retired?: string;
  /** When it becomes active (key-versions.ts); absent: active since it was written, as before staged versions. */
  readonly activatesAt?: ActivationTime;
  readonly secret: Uint8Array;
}

/** Versions in ascending order, never empty, one of them active at any moment. Immutable: a reload builds a new one. */
export class SecretRing {
  /** Every version the file holds, retired ones included, so a change writes them all back. */
  readonly versions: readonly SecretVersion[];
  /** The versions /verify compares against: all but the retired ones (staged ones included), worked out once per load. */
  readonly verifying: readonly SecretVersion[];
  /** The highest version number held (the next rotation adds one above it); not necessarily the active one. */
  readonly newest: SecretVersion;
  readonly timeline: VersionTimeline;
  readonly #byVersion: ReadonlyMap<number, SecretVersion>;
  /** Active when the ring was made; kept only for a clock set back before every activation. */
  readonly #firstActive: SecretVersion;

  constructor(sorted: readonly SecretVersion[], timeline: VersionTimeline, firstActive: SecretVersion) {
    this.versions = sorted;
    this.verifying = Object.freeze(sorted.filter((entry) => entry.retired === undefined));
    this.newest = sorted.at(-1) as SecretVersion;
    this.timeline = timeline;
    this.#byVersion = new Map(sorted.map((entry) => [entry.version, entry]));
    this.#firstActive = firstActive;
  }

  /** The version that makes pseudonyms at `now`. */
  active(now: number = Date.now()): SecretVersion {
    const version = this.timeline.activeAt(now);
    return (version === undefined ? undefined : this.#byVersion.get(version)) ?? this.#firstActive;
  }

  /** The version numbered `version`, retired or not, or undefined when this ring does not hold it. */
  held(version: number): SecretVersion | undefined {
    return this.#byVersion.get(version);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors: StoreFileErrors of the store "secret_file". Messages name the file and the fix, never
// the file's contents.

export const SECRET_FILE_ERRORS = storeErrors({
  store: "secret_file",
  maxBytes: SECRET_FILE_RULES.maxBytes,
  missing: (path) => `secret file ${path} does not exist; create one with: caas secret init ${path}`,
  exists: (path) => `secret file ${path} already exists; refusing to overwrite it (use: caas secret rotate ${path})`,
  invalid: (path, reason) => `secret file ${path} is not a valid caas secret file: ${reason}`,
});

/** The change would leave a file the server refuses to load; the file is left as it was. */
function secretChangeRefused(path: string, reason: string): StoreFileError {
  return new StoreFileError(
    { store: "secret_file", problem: "refused", path },
    `refusing to write ${path}: ${reason}; the file is left as it was`,
  );
}

// ---------------------------------------------------------------------------------------------
// The format

const SecretFileSchema = Type.Object(
  {
    versions: Type.Array(
      Type.Object(
        {
          version: Type.Integer({ minimum: 1, maximum: MAX_SECRET_VERSION }),
          created: Type.String({ minLength: 1, maxLength: 64 }),
          retired: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          activation: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          // 32 bytes in padded base64 are exactly 43 characters and one "=".
          secret: Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$" }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);
type SecretFile = Static<typeof SecretFileSchema>;

/**
 * Builds a ring from versions in any order; refuses an empty list, a repeated version, or versions
 * none of which is active at `now` (all retired, or all staged).
 */
export function makeSecretRing(versions: readonly SecretVersion[], now: number = Date.now()): SecretRing {
  const sorted = Object.freeze([...versions].sort((a, b) => a.version - b.version).map((v) => Object.freeze({ ...v })));
  const newest = sorted.at(-1);
  if (newest === undefined) throw new RangeError("a secret ring needs at least one version");
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.version === sorted[i - 1]?.version) throw new RangeError("secret versions must be unique");
  }
  for (const entry of sorted) {
    if (entry.secret.length !== SECRET_BYTES) throw new RangeError("a secret is 32 bytes");
  }
  const timeline = new VersionTimeline(
    sorted.map((entry) => ({
      version: entry.version,
      activatesAt: entry.activatesAt ?? Number.NEGATIVE_INFINITY,
      retired: entry.retired !== undefined,
    })),
  );
  const first = timeline.activeAt(now);
  if (first === undefined) throw new RangeError("no secret version is active: every version is retired or staged");
  return new SecretRing(sorted, timeline, sorted.find((entry) => entry.version === first) as SecretVersion);
}

/** A fresh random 256-bit secret; active from the start unless `activatesAt` says otherwise. */
export function newSecretVersion(version: number, now: Date = new Date(), activatesAt?: ActivationTime): SecretVersion {
  return {
    version,
    created: now.toISOString(),
    ...(activatesAt === undefined ? {} : { activatesAt }),
    secret: new Uint8Array(randomBytes(SECRET_BYTES)),
  };
}

/** Every check the server applies to the file's text; also run on what a command is about to write. */
export function parseSecretFile(path: string, text: string): SecretRing {
  if (Buffer.byteLength(text, "utf8") > SECRET_FILE_RULES.maxBytes) throw SECRET_FILE_ERRORS.of(path, { kind: "too_large" });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw SECRET_FILE_ERRORS.invalid(path, "not JSON");
  }
  if (!Value.Check(SecretFileSchema, json)) {
    // Only the location of the fault, never its value: the value may be a secret.
    const where = Value.Errors(SecretFileSchema, json).First()?.path || "/";
    throw SECRET_FILE_ERRORS.invalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  if (json.versions.length > MAX_SECRET_VERSIONS)
    throw SECRET_FILE_ERRORS.invalid(
      path,
      `it holds ${json.versions.length.toLocaleString("en-US")} versions; a secret file holds at most ${MAX_SECRET_VERSIONS.toLocaleString("en-US")}`,
    );
  const versions: SecretVersion[] = [];
  const seen = new Set<number>();
  for (const entry of json.versions) {
    if (seen.has(entry.version)) throw SECRET_FILE_ERRORS.invalid(path, `version ${entry.version} appears twice`);
    seen.add(entry.version);
    if (Number.isNaN(Date.parse(entry.created))) {
      throw SECRET_FILE_ERRORS.invalid(path, `version ${entry.version} has no valid "created" date`);
    }
    if (entry.retired !== undefined && Number.isNaN(Date.parse(entry.retired))) {
      throw SECRET_FILE_ERRORS.invalid(path, `version ${entry.version} has no valid "retired" date`);
    }
    const activatesAt = parseActivation(entry.activation);
    if (activatesAt === undefined) {
      throw SECRET_FILE_ERRORS.invalid(
        path,
        `version ${entry.version} has an "activation" that is neither "${PENDING_ACTIVATION}" nor a date`,
      );
    }
    let secret: Uint8Array;
    try {
      secret = fromBase64(entry.secret);
    } catch (error) {
      if (!(error instanceof EncodingError)) throw error;
      throw SECRET_FILE_ERRORS.invalid(path, `version ${entry.version} has a malformed secret`);
    }
    if (secret.length !== SECRET_BYTES) {
      throw SECRET_FILE_ERRORS.invalid(path, `version ${entry.version} is not a 32-byte secret`);
    }
    versions.push({
      version: entry.version,
      created: entry.created,
      secret,
      ...(activatesAt === Number.NEGATIVE_INFINITY ? {} : { activatesAt }),
      ...(entry.retired === undefined ? {} : { retired: entry.retired }),
    });
  }
  try {
    return makeSecretRing(versions);
  } catch (error) {
    if (error instanceof RangeError)
      throw SECRET_FILE_ERRORS.invalid(
        path,
        "no version is active now (every version is retired or staged), so none could make pseudonyms",
      );
    throw error;
  }
}

function optionalActivation(at: ActivationTime | undefined): { activation?: string } {
  const field = at === undefined ? undefined : activationField(at);
  return field === undefined ? {} : { activation: field };
}

function serializeRing(ring: SecretRing): string {
  const file: SecretFile = {
    versions: ring.versions.map((v) => ({
      version: v.version,
      created: v.created,
      ...(v.retired === undefined ? {} : { retired: v.retired }),
      ...optionalActivation(v.activatesAt),
      secret: toBase64(v.secret),
    })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Files

/** Reads the ring through any symbolic link, with owner, mode and directory checked (see readPrivateFile). */
export async function loadSecretRing(path: string): Promise<SecretRing> {
  return parseSecretFile(path, await readSecretText(path));
}

/** The secret file's text, read with the private file rules (owner, mode, directory, size). */
export function readSecretText(path: string): Promise<string> {
  return asStoreErrors(SECRET_FILE_ERRORS, path, () => readPrivateFile(path, SECRET_FILE_RULES));
}

/** Writes the ring after reading the text back with the server's own checks, so no command leaves a file the server refuses. */
async function writeSecretFile(path: string, target: string, ring: SecretRing, how: "create" | "replace"): Promise<void> {
  const text = serializeRing(ring);
  loadsBack(
    "secret_file",
    () => parseSecretFile(path, text),
    (reason) => secretChangeRefused(path, reason),
  );
  await asStoreErrors(SECRET_FILE_ERRORS, path, () => writePrivateFile(target, text, how));
}

function withSecretFileLock<T>(path: string, change: (target: string) => Promise<T>): Promise<T> {
  return asStoreErrors(SECRET_FILE_ERRORS, path, () => withPrivateFileLock(path, change));
}

/** Creates `path` with one fresh secret (version 1), mode 0600; refuses if `path` exists. */
export async function initSecretFile(path: string): Promise<SecretRing> {
  const ring = makeSecretRing([newSecretVersion(1)]);
  // No lock: link() creates the file only if absent, so two inits cannot both succeed.
  const target = await asStoreErrors(SECRET_FILE_ERRORS, path, () => privateFileTarget(path));
  await writeSecretFile(path, target, ring, "create");
  return ring;
}

/**
 * Adds version n+1 with a fresh secret and replaces the file atomically; older versions stay
 * so their pseudonyms still verify. The new version is staged (it verifies, and makes nothing)
 * until `activatesAt`, which is "pending" (until promoted) unless given. The file's lock is held
 * from the read to the rename, so rotations run at once each get their own version and none is lost.
 */
export async function rotateSecretFile(path: string, activatesAt: ActivationTime = Number.POSITIVE_INFINITY): Promise<SecretRing> {
  return withSecretFileLock(path, async (target) => {
    const current = await loadSecretRing(path);
    if (current.newest.version >= MAX_SECRET_VERSION) {
      throw secretChangeRefused(
        path,
        `it already holds version ${MAX_SECRET_VERSION}, the highest a secret file can hold, so no version can be added`,
      );
    }
    const ring = makeSecretRing([...current.versions, newSecretVersion(current.newest.version + 1, new Date(), activatesAt)]);
    await writeSecretFile(path, target, ring, "replace");
    return ring;
  });
}

/**
 * Sets when `version` becomes the active version (now, or a time), under the file's lock. Refuses
 * a version the file does not hold and a retired one; promoting an older version makes it active
 * again from that time (a rollback).
 */
export async function promoteSecretVersion(path: string, version: number, activatesAt: number): Promise<SecretRing> {
  return withSecretFileLock(path, async (target) => {
    const current = await loadSecretRing(path);
    const entry = heldVersion(path, current, version);
    if (entry.retired !== undefined)
      throw secretChangeRefused(path, `version ${version} is retired and verifies nothing, so it cannot become active`);
    const promoted: SecretVersion = { ...entry, activatesAt };
    const ring = makeSecretRing(current.versions.map((candidate) => (candidate === entry ? promoted : candidate)));
    await writeSecretFile(path, target, ring, "replace");
    return ring;
  });
}

function heldVersion(path: string, ring: SecretRing, version: number): SecretVersion {
  const entry = ring.held(version);
  if (entry === undefined)
    throw new StoreFileError(
      { store: "secret_file", problem: "no_such_entry", path },
      `${path} has no secret version ${version} (it holds ${ring.versions.map((v) => v.version).join(", ")})`,
    );
  return entry;
}

/**
 * Marks `version` retired, under the file's lock like a rotation: once the server reloads, it
 * verifies nothing. Refuses the active version and one the file does not hold; a version already
 * retired keeps its date and the file is not rewritten. Its secret stays in the file.
 */
export async function retireSecretVersion(path: string, version: number, now: Date = new Date()): Promise<SecretVersion> {
  return withSecretFileLock(path, async (target) => {
    const current = await loadSecretRing(path);
    const entry = heldVersion(path, current, version);
    if (entry === current.active(now.getTime()))
      throw new StoreFileError(
        { store: "secret_file", problem: "entry_active", path },
        `version ${version} is the active secret of ${path}, which makes pseudonyms, and cannot be retired; rotate and promote first (caas secret rotate ${path})`,
      );
    if (entry.retired !== undefined) return entry;
    const retired: SecretVersion = { ...entry, retired: now.toISOString() };
    const ring = makeSecretRing(current.versions.map((candidate) => (candidate === entry ? retired : candidate)));
    await writeSecretFile(path, target, ring, "replace");
    return retired;
  });
}
