/**
 * The one error of the files caas keeps (StoreFileError: the store, the problem, the path), and
 * how the private-file layer's failures become it: the layer says what is wrong
 * (PrivateFileFailed with a problem), and the store whose file it is says it in its own words.
 * The mapping is here, once, for every store; each store gives only the sentences that are its own.
 */
import { CaasError } from "../errors.ts";

/**
 * What can be wrong with a store's file, or with the change a command asks of it:
 *   missing, exists, invalid, insecure, unreadable, unwritable  the file itself
 *   busy            another command holds its lock for longer than a command waits
 *   refused         the change would leave a file the server refuses to load, or breaks a rule
 *   other_root_key  a keyring file that does not open under the root key given
 *   name_taken      a key of that name is in the file already
 *   key_stored      the same key is in the file already under another name
 *   not_shown       a new key could not be written to standard output
 *   no_such_entry   the file is fine but holds no key or version of that name
 *   entry_active    the version named is the active one, which cannot be retired
 * The CLI's exit status follows from the kind alone (src/cli/exit-codes.ts).
 */
export type StoreProblem =
  | "missing"
  | "exists"
  | "invalid"
  | "insecure"
  | "unreadable"
  | "unwritable"
  | "busy"
  | "refused"
  | "other_root_key"
  | "name_taken"
  | "key_stored"
  | "not_shown"
  | "no_such_entry"
  | "entry_active";

/**
 * Each store's codes, by problem: the codes users and scripts see, kept as they always were
 * (which is why some do not read `<store>_<problem>`). A store has a code only for the problems
 * it can have. `key_file` is the file `caas keys import --key-file` reads a key from;
 * `state_directory` is CAAS_STATE_DIR and the development files in it (not its secret.json,
 * which is a secret file like any other).
 */
export const STORE_FILE_CODES = {
  keys_file: {
    missing: "keys_file_missing",
    invalid: "keys_file_invalid",
    insecure: "keys_file_insecure",
    unreadable: "keys_file_unreadable",
    unwritable: "keys_file_unwritable",
    busy: "keys_file_busy",
    refused: "keys_file_refused",
    name_taken: "key_name_taken",
    key_stored: "key_already_stored",
    not_shown: "key_not_shown",
    no_such_entry: "key_not_found",
  },
  key_file: { unreadable: "key_file_unreadable" },
  secret_file: {
    missing: "secret_file_missing",
    exists: "secret_file_exists",
    invalid: "secret_file_invalid",
    insecure: "secret_file_insecure",
    unreadable: "secret_file_unreadable",
    unwritable: "secret_file_unwritable",
    busy: "secret_file_busy",
    refused: "secret_file_refused",
    no_such_entry: "secret_version_not_found",
    entry_active: "secret_version_current",
  },
  state_directory: {
    missing: "state_directory_missing",
    exists: "state_directory_exists",
    invalid: "state_directory_invalid",
    insecure: "state_directory_insecure",
    unreadable: "state_directory_unreadable",
    unwritable: "state_directory_unwritable",
  },
  root_key: {
    missing: "root_key_missing",
    exists: "root_key_exists",
    invalid: "root_key_invalid",
    insecure: "root_key_insecure",
    unreadable: "root_key_unreadable",
    unwritable: "root_key_unwritable",
  },
  keyring_file: {
    missing: "keyring_file_missing",
    exists: "keyring_file_exists",
    invalid: "keyring_file_invalid",
    insecure: "keyring_file_insecure",
    unreadable: "keyring_file_unreadable",
    unwritable: "keyring_file_unwritable",
    busy: "keyring_file_busy",
    refused: "keyring_file_refused",
    other_root_key: "keyring_root_key_mismatch",
    name_taken: "keyring_key_exists",
    no_such_entry: "keyring_key_not_found",
  },
} as const satisfies Readonly<Record<string, Readonly<Partial<Record<StoreProblem, string>>>>>;

export type Store = keyof typeof STORE_FILE_CODES;
/** The problems `S` has a code for. */
export type ProblemOf<S extends Store> = keyof (typeof STORE_FILE_CODES)[S] & StoreProblem;
/** Where a StoreFileError is and what it is: a store, one of its problems, the path. */
export type StoreFileAt = {
  [S in Store]: { readonly store: S; readonly problem: ProblemOf<S>; readonly path: string };
}[Store];

/**
 * A file caas keeps is missing, unreadable, insecure or malformed, or the change asked of it is
 * refused: its store, the problem, the path, and a message that names the file and the fix,
 * never the file's contents. `reason` is what an invalid file's message says is wrong, so a
 * refused change can say it again.
 */
export class StoreFileError extends CaasError {
  readonly code: string;
  readonly store: Store;
  readonly problem: StoreProblem;
  readonly path: string;
  readonly reason: string | undefined;

  constructor(at: StoreFileAt, message: string, reason?: string) {
    super(message);
    this.store = at.store;
    this.problem = at.problem;
    this.path = at.path;
    this.reason = reason;
    this.code = (STORE_FILE_CODES[at.store] as Readonly<Partial<Record<StoreProblem, string>>>)[at.problem] ?? "";
  }

  /** Whether `error` is `store`'s `problem`, as a guard: `catch (e) { if (!StoreFileError.is(e, "keys_file", "missing")) throw e; }`. */
  static is<S extends Store>(error: unknown, store: S, problem?: ProblemOf<S>): error is StoreFileError {
    return error instanceof StoreFileError && error.store === store && (problem === undefined || error.problem === problem);
  }
}

/** What is wrong, in a shape each store turns into its own words. */
export type PrivateFileProblem =
  | { readonly kind: "missing" }
  | { readonly kind: "exists" }
  | { readonly kind: "not_regular" }
  | { readonly kind: "too_large" }
  | { readonly kind: "unreadable"; readonly reason: string }
  | { readonly kind: "unwritable"; readonly reason: string }
  /** `subject` is the file or the directory at fault; `sentence` reads "<subject> <sentence>". */
  | { readonly kind: "insecure"; readonly subject: string; readonly sentence: string; readonly fix: string }
  | { readonly kind: "busy" };

/** The shared layer's failure, which the store whose file it is words as its own error before anyone sees it. */
export class PrivateFileFailed extends CaasError {
  readonly code = "private_file_failed";
  constructor(readonly problem: PrivateFileProblem) {
    super(problem.kind);
  }
}

/** The stores whose files this layer reads and writes (all but the file a key is imported from). */
export type FileStore = { [S in Store]: "missing" extends ProblemOf<S> ? S : never }[Store];

/** The sentences that are one store's own; the rest are said alike for every store. */
export interface StoreWords<S extends FileStore> {
  readonly store: S;
  /** The file's size limit in bytes, the one its read enforces: said in words ("4 MiB") in "larger than ...". */
  readonly maxBytes: number;
  readonly missing: (path: string) => string;
  /** Absent for a store that never creates its file where none may be: one that appears is a failed write. */
  readonly exists?: (path: string) => string;
  readonly invalid: (path: string, reason: string) => string;
  /** `found` reads "<subject> <sentence>"; absent: "...; refusing to use it. Fix: ...". */
  readonly insecure?: (found: string, fix: string) => string;
}

/** One store's errors for the problems of this layer, and for a file it finds malformed itself. */
export interface StoreErrors {
  /** `problem` with the file at `path`. */
  of(path: string, problem: PrivateFileProblem): StoreFileError;
  /** The file at `path` is malformed: `reason` says how, never quoting its contents. */
  invalid(path: string, reason: string): StoreFileError;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/** A size as people read it: whole MiB or KiB where it is one ("4 MiB", "1 KiB"), else bytes. */
export function sizeInWords(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= KIB && bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} bytes`;
}

export function storeErrors<S extends FileStore>(words: StoreWords<S>): StoreErrors {
  const codes: Readonly<Partial<Record<string, string>>> = STORE_FILE_CODES[words.store];
  // Every store of this layer has these problems (FileStore); the cast is the one place that says so.
  const error = (at: { problem: string; path: string }, message: string, reason?: string) =>
    new StoreFileError({ store: words.store, ...at } as StoreFileAt, message, reason);
  const invalid = (path: string, reason: string) => error({ problem: "invalid", path }, words.invalid(path, reason), reason);
  const unwritable = (path: string, reason: string) => error({ problem: "unwritable", path }, `cannot write ${path}: ${reason}`);
  const of = (path: string, problem: PrivateFileProblem): StoreFileError => {
    switch (problem.kind) {
      case "missing":
        return error({ problem: "missing", path }, words.missing(path));
      case "exists":
        return words.exists === undefined
          ? unwritable(path, "it appeared while being written")
          : error({ problem: "exists", path }, words.exists(path));
      case "not_regular":
        return invalid(path, "not a regular file");
      case "too_large":
        return invalid(path, `larger than ${sizeInWords(words.maxBytes)}`);
      case "insecure": {
        const found = `${problem.subject} ${problem.sentence}`;
        const message = words.insecure?.(found, problem.fix) ?? `${found}; refusing to use it. Fix: ${problem.fix}`;
        return error({ problem: "insecure", path }, message);
      }
      case "unreadable":
        return error({ problem: "unreadable", path }, `cannot read ${path}: ${problem.reason}`);
      case "unwritable":
        return unwritable(path, problem.reason);
      case "busy":
        // A store that takes no lock (the root key is only ever created) has no busy of its own.
        return codes.busy === undefined
          ? unwritable(path, "another command holds it")
          : error({ problem: "busy", path }, `${path} is being changed by another caas command and stayed locked for 10 s; try again`);
    }
  };
  return { of, invalid };
}

/** Runs `action` on the file at `path`, turning this layer's failures into the store's own errors. */
export async function asStoreErrors<T>(errors: StoreErrors, path: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof PrivateFileFailed) throw errors.of(path, error.problem);
    throw error;
  }
}

/**
 * What `read` makes of a text a command is about to write, read with the server's own checks
 * so no command leaves a file the server refuses to load: a text `store` would call invalid
 * becomes `refuse`'s error, saying why it would not load.
 */
export function loadsBack<T>(store: FileStore, read: () => T, refuse: (reason: string) => StoreFileError): T {
  try {
    return read();
  } catch (error) {
    if (StoreFileError.is(error, store, "invalid")) throw refuse(`the result would not load (${error.reason})`);
    throw error;
  }
}
