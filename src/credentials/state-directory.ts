/**
 * The state directory (CAAS_STATE_DIR): where caas keeps what it makes for itself when nothing
 * is configured, the quick start's secret (secret.json) and development mode's files
 * (development.ts). It is made 0700 and refused when anyone but us or root could write it, since
 * whoever can write it can replace the files in it. Its problems, and those of the development
 * files in it, are the store "state_directory"'s, named by the setting CAAS_STATE_DIR.
 */
import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errnoCode, errnoReason } from "../files/errno.ts";
import { checkPrivateDirectory } from "../files/private-file.ts";
import { asStoreErrors, PrivateFileFailed, storeErrors, StoreFileError } from "../files/store-errors.ts";
import { initSecretFile, loadSecretRing, type SecretRing } from "./secret-ring.ts";

/** The file name ensureStateSecret keeps under the state directory. */
export const STATE_SECRET_FILE = "secret.json";
const PRIVATE_DIR_MODE = 0o700;

/** The largest file caas keeps in the state directory by itself (the development API key). */
export const STATE_FILE_MAX_BYTES = 1024;

export const STATE_DIRECTORY_ERRORS = storeErrors({
  store: "state_directory",
  maxBytes: STATE_FILE_MAX_BYTES,
  missing: (path) => `${path} does not exist`,
  exists: (path) => `${path} already exists`,
  invalid: (path, reason) => `${path} is not usable: ${reason}`,
});

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
  await prepareStateDirectory(stateDir);

  const path = join(stateDir, STATE_SECRET_FILE);
  try {
    return { ring: await loadSecretRing(path), path, created: false };
  } catch (error) {
    if (!StoreFileError.is(error, "secret_file", "missing")) throw error;
  }
  try {
    return { ring: await initSecretFile(path), path, created: true };
  } catch (error) {
    // Another process created it between our read and our write: use theirs.
    if (!StoreFileError.is(error, "secret_file", "exists")) throw error;
    return { ring: await loadSecretRing(path), path, created: false };
  }
}

/** Creates the state directory (0700) when absent, and refuses one that is not ours alone. */
export async function prepareStateDirectory(stateDir: string): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw STATE_DIRECTORY_ERRORS.of(stateDir, { kind: "unwritable", reason: `cannot create the state directory (${errnoReason(error)})` });
  }
  await refuseUnsafeStateDirectory(stateDir);
}

/** Whoever can write the state directory, or owns it, can replace the secret file with one of their own. */
async function refuseUnsafeStateDirectory(stateDir: string): Promise<void> {
  await asStoreErrors(STATE_DIRECTORY_ERRORS, stateDir, async () => {
    try {
      await checkPrivateDirectory(stateDir, "chmod 700");
    } catch (error) {
      if (error instanceof PrivateFileFailed && error.problem.kind === "not_regular") {
        throw STATE_DIRECTORY_ERRORS.invalid(stateDir, "the state directory is not a directory");
      }
      throw error;
    }
  });
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
  try {
    await stat(stateDir);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw STATE_DIRECTORY_ERRORS.of(stateDir, { kind: "unreadable", reason: errnoReason(error) });
    await assertCanCreateIn(await nearestExistingAncestor(stateDir), stateDir, "cannot create the state directory");
    return { path, wouldCreate: [`${stateDir} (directory, mode 0700)`, `${path} (a new secret, mode 0600)`] };
  }
  await refuseUnsafeStateDirectory(stateDir);
  try {
    await loadSecretRing(path);
    return { path, wouldCreate: [] };
  } catch (error) {
    if (!StoreFileError.is(error, "secret_file", "missing")) throw error;
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
    if (!(await stat(directory)).isDirectory())
      throw STATE_DIRECTORY_ERRORS.of(target, { kind: "unwritable", reason: `${what} (${directory} is not a directory)` });
    await access(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (StoreFileError.is(error, "state_directory")) throw error;
    throw STATE_DIRECTORY_ERRORS.of(target, { kind: "unwritable", reason: `${what} (${errnoReason(error)})` });
  }
}
