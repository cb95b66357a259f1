/**
 * The one table from an error's code to the exit status a command ends with, as
 * docs/configuration.md documents them, and the one way a command reports a failure: main.ts and
 * every command use it, so a new error is given its status here once (a test walks every code
 * in src/ and fails on one without a row).
 */
import { CaasError, UsageError } from "../errors.ts";
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

/** A store's file, or the file a setting names, is missing, unreadable, insecure or malformed, or the change asked of it is refused. */
const FILE_ERROR_CODES = [
  "keys_file_missing",
  "keys_file_invalid",
  "keys_file_insecure",
  "keys_file_unreadable",
  "keys_file_unwritable",
  "keys_file_refused",
  "key_name_taken",
  "key_already_stored",
  "key_file_unreadable",
  "secret_file_missing",
  "secret_file_exists",
  "secret_file_insecure",
  "secret_file_invalid",
  "secret_file_unreadable",
  "secret_file_unwritable",
  "secret_file_refused",
  "root_key_missing",
  "root_key_exists",
  "root_key_invalid",
  "root_key_insecure",
  "root_key_unreadable",
  "root_key_unwritable",
  "keyring_file_missing",
  "keyring_file_exists",
  "keyring_file_invalid",
  "keyring_root_key_mismatch",
  "keyring_file_insecure",
  "keyring_file_unreadable",
  "keyring_file_unwritable",
  "keyring_file_refused",
  "keyring_key_exists",
] as const;

/** Every error code caas has, and the exit status a command that fails with it ends with. */
export const EXIT_STATUS_OF: Readonly<Record<string, number>> = Object.freeze({
  // A request's failure reaches a command only through `caas decrypt`, which opens an oracle answer offline.
  ...Object.fromEntries(Object.keys(STATUS_OF).map((code) => [code, EXIT_REFUSED])),
  usage: EXIT_USAGE,
  invalid_key_argument: EXIT_USAGE,
  invalid_keyring_argument: EXIT_USAGE,
  key_not_found: EXIT_NOT_FOUND,
  secret_version_not_found: EXIT_NOT_FOUND,
  // Retiring the version that makes pseudonyms is refused like a name that is not there: nothing changed, nothing is wrong with the file.
  secret_version_current: EXIT_NOT_FOUND,
  keyring_key_not_found: EXIT_NOT_FOUND,
  // The shared file layer's and the append file's own failures are worded by their callers; one escaping is a bug.
  private_file_failed: EXIT_SOFTWARE,
  append_failed: EXIT_SOFTWARE,
  output_failed: EXIT_IOERR,
  key_not_shown: EXIT_IOERR,
  keys_file_busy: EXIT_TEMPFAIL,
  secret_file_busy: EXIT_TEMPFAIL,
  keyring_file_busy: EXIT_TEMPFAIL,
  config_error: EXIT_CONFIG,
  ...Object.fromEntries(FILE_ERROR_CODES.map((code) => [code, EXIT_CONFIG])),
});

/** The exit status for `error`: its code's row, or 70 for anything caas did not expect. */
export function exitStatusOf(error: unknown): number {
  return (error instanceof CaasError ? EXIT_STATUS_OF[error.code] : undefined) ?? EXIT_SOFTWARE;
}

/**
 * Reports a command's failure in one line on stderr and returns its exit status. `prefix` names
 * the command ("caas keys add"); a usage error gives its one clause (usageProblem, which names
 * the option of `options` a mistyped one most likely meant) and, with `help`, points to it. What caas did not expect is one line naming only its class, never its message,
 * which may quote anything it was handed.
 */
export function commandFailed(io: CliIo, prefix: string, error: unknown, help?: string, options: readonly string[] = []): number {
  const known = isParseArgsError(error) ? new UsageError(usageProblem(error, options)) : error;
  const status = exitStatusOf(known);
  if (!(known instanceof CaasError) || status === EXIT_SOFTWARE) io.err(unexpectedErrorLine(prefix, error));
  else if (status === EXIT_USAGE) io.err(`${prefix}: ${firstSentence(known.message)}${help === undefined ? "" : ` (see ${help})`}`);
  else io.err(`${prefix}: ${known.message}`);
  return status;
}
