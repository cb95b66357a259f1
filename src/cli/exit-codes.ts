/**
 * The one table from an error's code to the exit status a command ends with, as
 * docs/configuration.md documents them, and the one way a command reports a failure: main.ts and
 * every command use it, so a new error is given its status here once (a test walks every code
 * in src/ and fails on one without a row).
 */
import { CaasError, UsageError } from "../errors.ts";
import { STORE_FILE_CODES, StoreFileError, type StoreProblem } from "../files/store-errors.ts";
import { STATUS_OF } from "../http/error-answers.ts";
import {
  type CliIo,
  EXIT_CONFIG,
  EXIT_IOERR,
  EXIT_NOT_FOUND,
  EXIT_SOFTWARE,
  EXIT_TEMPFAIL,
  EXIT_USAGE,
  firstSentence,
  isParseArgsError,
  unexpectedErrorLine,
  usageProblem,
} from "./io.ts";

/** `caas decrypt` refused the values it was given (they did not authenticate, or are not base64): the same 1 as a name not found. */
const EXIT_REFUSED = 1;

/**
 * What each problem with a store's file ends a command with: the file itself, or a change it
 * cannot take, is a configuration error (78); a lock held too long, try again (75); a name or
 * version the file does not hold, or the one version that cannot be retired, is "no such thing"
 * (1), since nothing is wrong with the file; a new key nobody could be shown is lost output (74).
 */
const EXIT_OF_PROBLEM = {
  missing: EXIT_CONFIG,
  exists: EXIT_CONFIG,
  invalid: EXIT_CONFIG,
  insecure: EXIT_CONFIG,
  unreadable: EXIT_CONFIG,
  unwritable: EXIT_CONFIG,
  refused: EXIT_CONFIG,
  other_root_key: EXIT_CONFIG,
  name_taken: EXIT_CONFIG,
  key_stored: EXIT_CONFIG,
  busy: EXIT_TEMPFAIL,
  not_shown: EXIT_IOERR,
  no_such_entry: EXIT_NOT_FOUND,
  entry_active: EXIT_NOT_FOUND,
} as const satisfies Readonly<Record<StoreProblem, number>>;

/** Every store file code, with its problem's exit status. */
const STORE_FILE_EXIT_STATUSES = Object.values(STORE_FILE_CODES).flatMap((codes) =>
  Object.entries(codes).map(([problem, code]) => [code, EXIT_OF_PROBLEM[problem as StoreProblem]] as const),
);

/** Every error code caas has, and the exit status a command that fails with it ends with. */
export const EXIT_STATUS_OF: Readonly<Record<string, number>> = Object.freeze({
  // A request's failure reaches a command only through `caas decrypt`, which opens an oracle answer offline.
  ...Object.fromEntries(Object.keys(STATUS_OF).map((code) => [code, EXIT_REFUSED])),
  usage: EXIT_USAGE,
  invalid_key_argument: EXIT_USAGE,
  invalid_keyring_argument: EXIT_USAGE,
  // The shared file layer's and the append file's own failures are worded by their callers; one escaping is a bug.
  private_file_failed: EXIT_SOFTWARE,
  append_failed: EXIT_SOFTWARE,
  output_failed: EXIT_IOERR,
  config_error: EXIT_CONFIG,
  ...Object.fromEntries(STORE_FILE_EXIT_STATUSES),
});

/** The exit status for `error`: its code's row, or 70 for anything caas did not expect. */
export function exitStatusOf(error: unknown): number {
  if (error instanceof StoreFileError) return EXIT_OF_PROBLEM[error.problem];
  return (error instanceof CaasError ? EXIT_STATUS_OF[error.code] : undefined) ?? EXIT_SOFTWARE;
}

/** The command a failure is reported for: its name, its --help, and the options it takes (to name a mistyped one's likely meaning). */
export interface FailedCommand {
  /** "caas keys add". */
  readonly prefix: string;
  readonly help?: string | undefined;
  readonly options?: readonly string[];
}

/**
 * Reports a command's failure in one line on stderr and returns its exit status. A usage error
 * gives its one clause (usageProblem, which names the option a mistyped one most likely meant)
 * and, with `help`, points to it. What caas did not expect is one line naming only its class,
 * never its message, which may quote anything it was handed.
 */
export function commandFailed(io: CliIo, error: unknown, { prefix, help, options = [] }: FailedCommand): number {
  const known = isParseArgsError(error) ? new UsageError(usageProblem(error, options)) : error;
  const status = exitStatusOf(known);
  if (!(known instanceof CaasError) || status === EXIT_SOFTWARE) io.err(unexpectedErrorLine(prefix, error));
  else if (status === EXIT_USAGE) io.err(`${prefix}: ${firstSentence(known.message)}${help === undefined ? "" : ` (see ${help})`}`);
  else io.err(`${prefix}: ${known.message}`);
  return status;
}
