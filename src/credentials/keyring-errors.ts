/**
 * The keyring file's errors: each with a stable code, which src/cli/exit-codes.ts gives its exit
 * status (78 for most, busy 75, no such key 1). Messages name the file and the fix, never its contents.
 */
import { CaasError } from "../errors.ts";
import { StoreFileError, type StoreErrors } from "../files/private-file.ts";

export abstract class KeyringFileError extends StoreFileError {}

export class KeyringFileMissing extends KeyringFileError {
  readonly code = "keyring_file_missing";
  constructor(path: string) {
    super(path, `keyring file ${path} does not exist; create it with: caas keyring create NAME --file ${path} --root-key ROOT_KEY_FILE`);
  }
}

/** Another process created the file first (development mode's create-if-absent). */
export class KeyringFileExists extends KeyringFileError {
  readonly code = "keyring_file_exists";
  constructor(path: string) {
    super(path, `keyring file ${path} already exists`);
  }
}

export class KeyringFileInvalid extends KeyringFileError {
  readonly code = "keyring_file_invalid";
  constructor(
    path: string,
    readonly reason: string,
  ) {
    super(path, `keyring file ${path} is not a valid caas keyring: ${reason}`);
  }
}

/** The file is well formed but its keys do not open under this root key: another root key, or an altered file. */
export class KeyringRootKeyMismatch extends KeyringFileError {
  readonly code = "keyring_root_key_mismatch";
  constructor(path: string, rootKeyPath: string) {
    super(
      path,
      `keyring file ${path} does not open under the root key in ${rootKeyPath}: it was made with another root key, or it was altered`,
    );
  }
}

export class KeyringFileInsecure extends KeyringFileError {
  readonly code = "keyring_file_insecure";
  constructor(path: string, subject: string, sentence: string, fix: string) {
    super(path, `${subject} ${sentence}; refusing to use it. Fix: ${fix}`);
  }
}

export class KeyringFileUnreadable extends KeyringFileError {
  readonly code = "keyring_file_unreadable";
  constructor(path: string, cause: string) {
    super(path, `cannot read ${path}: ${cause}`);
  }
}

export class KeyringFileUnwritable extends KeyringFileError {
  readonly code = "keyring_file_unwritable";
  constructor(path: string, cause: string) {
    super(path, `cannot write ${path}: ${cause}`);
  }
}

export class KeyringFileBusy extends KeyringFileError {
  readonly code = "keyring_file_busy";
  constructor(path: string) {
    super(path, `${path} is being changed by another caas command and stayed locked for 10 s; try again`);
  }
}

/** The change would leave a file the server refuses to load, or break a rule of the keyring; the file is left as it was. */
export class KeyringFileRefused extends KeyringFileError {
  readonly code = "keyring_file_refused";
  constructor(path: string, reason: string) {
    super(path, `refusing to change ${path}: ${reason}; the file is left as it was`);
  }
}

export class KeyringKeyExists extends KeyringFileError {
  readonly code = "keyring_key_exists";
  constructor(path: string, name: string) {
    super(path, `${path} already has a key named "${name}"; rotate it (caas keyring rotate ${name}) or choose another name`);
  }
}

export class KeyringKeyNotFound extends KeyringFileError {
  readonly code = "keyring_key_not_found";
  constructor(path: string, name: string) {
    super(path, `${path} has no key named "${name}"`);
  }
}

/** A bad argument (a name, a version number): the CLI answers with usage, exit 2. */
export class InvalidKeyringArgument extends CaasError {
  readonly code = "invalid_keyring_argument";
}

export const KEYRING_FILE_ERRORS: StoreErrors<KeyringFileError> = {
  maxSize: "32 MiB",
  missing: (path) => new KeyringFileMissing(path),
  exists: (path) => new KeyringFileExists(path),
  invalid: (path, reason) => new KeyringFileInvalid(path, reason),
  insecure: (path, subject, sentence, fix) => new KeyringFileInsecure(path, subject, sentence, fix),
  unreadable: (path, reason) => new KeyringFileUnreadable(path, reason),
  unwritable: (path, reason) => new KeyringFileUnwritable(path, reason),
  busy: (path) => new KeyringFileBusy(path),
};
