/**
 * The pseudonym server secret on disk: a JSON file of numbered versions, newest last.
 *
 *   {"versions":[{"version":1,"created":"2025-01-01T00:00:00.000Z","secret":"<base64 of 32 bytes>"}]}
 *
 * The newest version makes pseudonyms, every version verifies them, so a rotation never breaks a
 * stored pseudonym. The file is the one thing whose leak undoes the service, so it is written
 * 0600 and atomically, and a file that group or others can read is refused rather than used.
 */

import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, open, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { EncodingError, fromBase64, toBase64 } from "../../crypto/encoding.ts";
import { errnoCode, errnoReason, PrivateFileWriteFailed, StoreFileError, writePrivateFile } from "../../files/private-file.ts";

export const SECRET_BYTES = 32;
/** The file name ensureStateSecret keeps under the state directory. */
export const STATE_SECRET_FILE = "secret.json";
/** A real secret file is well under 1 KiB per version; anything this large is not one. */
const MAX_FILE_BYTES = 1024 * 1024;
const PRIVATE_DIR_MODE = 0o700;

export interface SecretVersion {
  readonly version: number;
  readonly created: string;
  readonly secret: Uint8Array;
}

/** Versions in ascending order, never empty; `newest` is the last one. */
export interface SecretRing {
  readonly versions: readonly SecretVersion[];
  readonly newest: SecretVersion;
}

// ---------------------------------------------------------------------------------------------
// Errors: one class per failure, each with a stable code; the CLI exits 78 on any of them.
// Messages name the file and the fix, never the file's contents.

export abstract class SecretFileError extends StoreFileError {}

export class SecretFileMissing extends SecretFileError {
  readonly code = "secret_file_missing";
  constructor(path: string) {
    super(path, `secret file ${path} does not exist; create one with: caas secret init ${path}`);
  }
}

export class SecretFileExists extends SecretFileError {
  readonly code = "secret_file_exists";
  constructor(path: string) {
    super(path, `secret file ${path} already exists; refusing to overwrite it (use: caas secret rotate ${path})`);
  }
}

export class SecretFileInsecure extends SecretFileError {
  readonly code = "secret_file_insecure";
  constructor(path: string, mode: number, fix: string) {
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    super(path, `${path} is accessible to group or others (mode ${octal}); refusing to use it. Fix: ${fix}`);
  }
}

export class SecretFileInvalid extends SecretFileError {
  readonly code = "secret_file_invalid";
  constructor(path: string, reason: string) {
    super(path, `secret file ${path} is not a valid caas secret file: ${reason}`);
  }
}

export class SecretFileUnreadable extends SecretFileError {
  readonly code = "secret_file_unreadable";
  constructor(path: string, cause: string) {
    super(path, `cannot read ${path}: ${cause}`);
  }
}

export class SecretFileUnwritable extends SecretFileError {
  readonly code = "secret_file_unwritable";
  constructor(path: string, cause: string) {
    super(path, `cannot write ${path}: ${cause}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The format

const SecretFileSchema = Type.Object(
  {
    versions: Type.Array(
      Type.Object(
        {
          version: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
          created: Type.String({ minLength: 1, maxLength: 64 }),
          // 32 bytes in padded base64 are exactly 43 characters and one "=".
          secret: Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$" }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10_000 },
    ),
  },
  { additionalProperties: false },
);
type SecretFile = Static<typeof SecretFileSchema>;

/** Builds a ring from versions in any order; refuses an empty list or a repeated version. */
export function makeSecretRing(versions: readonly SecretVersion[]): SecretRing {
  const sorted = Object.freeze([...versions].sort((a, b) => a.version - b.version).map((v) => Object.freeze({ ...v })));
  const newest = sorted.at(-1);
  if (newest === undefined) throw new RangeError("a secret ring needs at least one version");
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.version === sorted[i - 1]?.version) throw new RangeError("secret versions must be unique");
  }
  for (const entry of sorted) {
    if (entry.secret.length !== SECRET_BYTES) throw new RangeError("a secret is 32 bytes");
  }
  return Object.freeze({ versions: sorted, newest });
}

/** A fresh random 256-bit secret. */
export function newSecretVersion(version: number, now: Date = new Date()): SecretVersion {
  return { version, created: now.toISOString(), secret: new Uint8Array(randomBytes(SECRET_BYTES)) };
}

function parseSecretFile(path: string, text: string): SecretRing {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SecretFileInvalid(path, "not JSON");
  }
  if (!Value.Check(SecretFileSchema, json)) {
    // Only the location of the fault, never its value: the value may be a secret.
    const where = Value.Errors(SecretFileSchema, json).First()?.path || "/";
    throw new SecretFileInvalid(path, `unexpected, missing or malformed field at ${where}`);
  }
  const versions: SecretVersion[] = [];
  const seen = new Set<number>();
  for (const entry of json.versions) {
    if (seen.has(entry.version)) throw new SecretFileInvalid(path, `version ${entry.version} appears twice`);
    seen.add(entry.version);
    if (Number.isNaN(Date.parse(entry.created))) {
      throw new SecretFileInvalid(path, `version ${entry.version} has no valid "created" date`);
    }
    let secret: Uint8Array;
    try {
      secret = fromBase64(entry.secret);
    } catch (error) {
      if (!(error instanceof EncodingError)) throw error;
      throw new SecretFileInvalid(path, `version ${entry.version} has a malformed secret`);
    }
    if (secret.length !== SECRET_BYTES) {
      throw new SecretFileInvalid(path, `version ${entry.version} is not a 32-byte secret`);
    }
    versions.push({ version: entry.version, created: entry.created, secret });
  }
  return makeSecretRing(versions);
}

function serializeRing(ring: SecretRing): string {
  const file: SecretFile = {
    versions: ring.versions.map((v) => ({ version: v.version, created: v.created, secret: toBase64(v.secret) })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Files

/**
 * Reads the ring, checking the mode on the very descriptor it reads from, so the file cannot
 * be swapped between the check and the read.
 */
export async function loadSecretRing(path: string): Promise<SecretRing> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new SecretFileMissing(path);
    throw new SecretFileUnreadable(path, errnoReason(error));
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SecretFileInvalid(path, "not a regular file");
    if ((info.mode & 0o077) !== 0) throw new SecretFileInsecure(path, info.mode, `chmod 600 ${path}`);
    if (info.size > MAX_FILE_BYTES) throw new SecretFileInvalid(path, "larger than 1 MiB");
    let text: string;
    try {
      text = await handle.readFile("utf8");
    } catch (error) {
      throw new SecretFileUnreadable(path, errnoReason(error));
    }
    return parseSecretFile(path, text);
  } finally {
    await handle.close();
  }
}

async function writeSecretFile(path: string, text: string, how: "create" | "replace"): Promise<void> {
  try {
    await writePrivateFile(path, text, how);
  } catch (error) {
    if (!(error instanceof PrivateFileWriteFailed)) throw error;
    throw error.exists ? new SecretFileExists(path) : new SecretFileUnwritable(path, error.reason);
  }
}

/** Creates `path` with one fresh secret (version 1), mode 0600; refuses if `path` exists. */
export async function initSecretFile(path: string): Promise<SecretRing> {
  const ring = makeSecretRing([newSecretVersion(1)]);
  await writeSecretFile(path, serializeRing(ring), "create");
  return ring;
}

/**
 * Adds version n+1 with a fresh secret and replaces the file atomically; older versions stay
 * so their pseudonyms still verify. Two rotations of one file at the same moment may lose one
 * of the two new versions (never an old one): run rotations one at a time.
 */
export async function rotateSecretFile(path: string): Promise<SecretRing> {
  const current = await loadSecretRing(path);
  const ring = makeSecretRing([...current.versions, newSecretVersion(current.newest.version + 1)]);
  await writeSecretFile(path, serializeRing(ring), "replace");
  return ring;
}

export interface StateSecret {
  readonly ring: SecretRing;
  readonly path: string;
  /** True when this call made a new secret, so the server can say so in its log. */
  readonly created: boolean;
}

/**
 * The quick start's secret: loads `<stateDir>/secret.json`, creating the directory (0700) and
 * the file (0600) when absent, so digests stay stable across restarts with no configuration.
 * Several processes starting at once end up with one secret: creation is create-if-absent.
 */
export async function ensureStateSecret(stateDir: string): Promise<StateSecret> {
  try {
    await mkdir(stateDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw new SecretFileUnwritable(stateDir, `cannot create the state directory (${errnoReason(error)})`);
  }
  let dirInfo;
  try {
    dirInfo = await stat(stateDir);
  } catch (error) {
    throw new SecretFileUnreadable(stateDir, errnoReason(error));
  }
  refuseUnsafeStateDirectory(stateDir, dirInfo);

  const path = join(stateDir, STATE_SECRET_FILE);
  try {
    return { ring: await loadSecretRing(path), path, created: false };
  } catch (error) {
    if (!(error instanceof SecretFileMissing)) throw error;
  }
  try {
    return { ring: await initSecretFile(path), path, created: true };
  } catch (error) {
    // Another process created it between our read and our write: use theirs.
    if (!(error instanceof SecretFileExists)) throw error;
    return { ring: await loadSecretRing(path), path, created: false };
  }
}

function refuseUnsafeStateDirectory(stateDir: string, info: { isDirectory(): boolean; mode: number }): void {
  if (!info.isDirectory()) throw new SecretFileInvalid(stateDir, "the state directory is not a directory");
  // Whoever can write the directory can replace the secret file with one of their own.
  if ((info.mode & 0o022) !== 0) throw new SecretFileInsecure(stateDir, info.mode, `chmod 700 ${stateDir}`);
}

export interface StateSecretPlan {
  readonly path: string;
  /** What ensureStateSecret would create, in order; empty when the secret is already there. */
  readonly wouldCreate: readonly string[];
}

/**
 * What ensureStateSecret would do, without doing it (for `caas serve --check`): the same checks
 * of an existing directory and secret, and, for what is absent, whether it could be created.
 */
export async function planStateSecret(stateDir: string): Promise<StateSecretPlan> {
  const path = join(stateDir, STATE_SECRET_FILE);
  let dirInfo;
  try {
    dirInfo = await stat(stateDir);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw new SecretFileUnreadable(stateDir, errnoReason(error));
    await assertCanCreateIn(await nearestExistingAncestor(stateDir), stateDir, "cannot create the state directory");
    return { path, wouldCreate: [`${stateDir} (directory, mode 0700)`, `${path} (a new secret, mode 0600)`] };
  }
  refuseUnsafeStateDirectory(stateDir, dirInfo);
  try {
    await loadSecretRing(path);
    return { path, wouldCreate: [] };
  } catch (error) {
    if (!(error instanceof SecretFileMissing)) throw error;
  }
  await assertCanCreateIn(stateDir, path, "cannot create the secret file");
  return { path, wouldCreate: [`${path} (a new secret, mode 0600)`] };
}

async function nearestExistingAncestor(path: string): Promise<string> {
  let candidate = dirname(path);
  for (;;) {
    try {
      await stat(candidate);
      return candidate;
    } catch (error) {
      const parent = dirname(candidate);
      if (errnoCode(error) !== "ENOENT" || parent === candidate) return candidate;
      candidate = parent;
    }
  }
}

async function assertCanCreateIn(directory: string, target: string, what: string): Promise<void> {
  try {
    if (!(await stat(directory)).isDirectory()) throw new SecretFileUnwritable(target, `${what} (${directory} is not a directory)`);
    await access(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof SecretFileError) throw error;
    throw new SecretFileUnwritable(target, `${what} (${errnoReason(error)})`);
  }
}
