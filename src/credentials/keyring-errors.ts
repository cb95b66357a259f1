/**
 * The keyring file's errors: StoreFileErrors of the store "keyring_file", whose exit statuses
 * src/cli/exit-codes.ts derives from the problem (78 for most, busy 75, no such key 1). Messages
 * name the file and the fix, never its contents.
 */
import { storeErrors, StoreFileError } from "../files/store-errors.ts";

/** The largest keyring file caas reads or writes. */
export const KEYRING_FILE_MAX_BYTES = 32 * 1024 * 1024;

export const KEYRING_FILE_ERRORS = storeErrors({
  store: "keyring_file",
  maxBytes: KEYRING_FILE_MAX_BYTES,
  missing: (path) =>
    `keyring file ${path} does not exist; create it with: caas keyring create NAME --file ${path} --root-key ROOT_KEY_FILE`,
  // Another process created the file first (development mode's create-if-absent).
  exists: (path) => `keyring file ${path} already exists`,
  invalid: (path, reason) => `keyring file ${path} is not a valid caas keyring: ${reason}`,
});

/** The file is well formed but its keys do not open under this root key: another root key, or an altered file. */
export function otherRootKey(path: string, rootKeyPath: string): StoreFileError {
  return new StoreFileError(
    { store: "keyring_file", problem: "other_root_key", path },
    `keyring file ${path} does not open under the root key in ${rootKeyPath}: it was made with another root key, or it was altered`,
  );
}

/** The change would leave a file the server refuses to load, or break a rule of the keyring; the file is left as it was. */
export function keyringChangeRefused(path: string, reason: string): StoreFileError {
  return new StoreFileError(
    { store: "keyring_file", problem: "refused", path },
    `refusing to change ${path}: ${reason}; the file is left as it was`,
    reason,
  );
}

export function keyringKeyExists(path: string, name: string): StoreFileError {
  return new StoreFileError(
    { store: "keyring_file", problem: "name_taken", path },
    `${path} already has a key named "${name}"; rotate it (caas keyring rotate ${name}) or choose another name`,
  );
}

export function keyringKeyNotFound(path: string, name: string): StoreFileError {
  return new StoreFileError({ store: "keyring_file", problem: "no_such_entry", path }, `${path} has no key named "${name}"`);
}
