/**
 * How the private-file layer's failures reach a user: the layer says what is wrong
 * (PrivateFileFailed with a problem), and the store whose file it is says it in its own words as
 * a StoreFileError (src/errors.ts). The mapping is here, once, for every store; each store gives
 * only the sentences that are its own.
 */
import { CaasError, type ProblemOf, STORE_FILE_CODES, type Store, StoreFileError, type StoreFileAt } from "../errors.ts";

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
  /** The file's size limit in words ("4 MiB"), for "larger than ...". */
  readonly maxSize: string;
  readonly missing: (path: string) => string;
  /** Absent for a store that never creates its file where none may be: one that appears is a failed write. */
  readonly exists?: (path: string) => string;
  readonly invalid: (path: string, reason: string) => string;
  /** `found` reads "<subject> <sentence>"; absent: "...; refusing to use it. Fix: ...". */
  readonly insecure?: (found: string, fix: string) => string;
}

/** One store's errors for the problems of this layer, and for a file it finds malformed itself. */
export interface StoreErrors {
  readonly store: FileStore;
  readonly maxSize: string;
  /** `problem` with the file at `path`. */
  of(path: string, problem: PrivateFileProblem): StoreFileError;
  /** The file at `path` is malformed: `reason` says how, never quoting its contents. */
  invalid(path: string, reason: string): StoreFileError;
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
        return invalid(path, `larger than ${words.maxSize}`);
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
  return { store: words.store, maxSize: words.maxSize, of, invalid };
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
