import { parseArgs, type ParseArgsConfig } from "node:util";
import { likelyMeant } from "../closest-name.ts";
import { UsageError } from "../errors.ts";

/**
 * What a CLI command may touch of the outside world, passed in rather than reached for, so
 * tests run a command in-process and read exactly what it printed and returned.
 */
export interface CliIo {
  /**
   * One line of standard output, without its newline. Throws when the line cannot be written
   * (stdout closed: EPIPE), so a command that must know its output arrived, such as `keys add`
   * showing a new key, finds out before it goes on.
   */
  out(line: string): void;
  /** One line of standard error, without its newline. */
  err(line: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes, from sysexits.h where one fits. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
/**
 * The file is fine, but what the command names is not in it (a key, a keyring key, a secret
 * version), or may not be changed that way (retiring the current secret version).
 */
export const EXIT_NOT_FOUND = 1;
/** EX_SOFTWARE: an error caas did not expect; one line on stderr, never a stack trace. */
export const EXIT_SOFTWARE = 70;
/** EX_IOERR: standard output closed before the command's answer was written. */
export const EXIT_IOERR = 74;
/** EX_TEMPFAIL: another command held the file's lock for the whole wait; trying again may work. */
export const EXIT_TEMPFAIL = 75;
/** EX_CONFIG: a configuration or file the command needs is missing, unreadable or wrong. */
export const EXIT_CONFIG = 78;

/** node:util parseArgs reports bad arguments as TypeErrors with an ERR_PARSE_ARGS_* code. */
export function isParseArgsError(error: unknown): error is TypeError {
  return error instanceof TypeError && "code" in error && typeof error.code === "string" && error.code.startsWith("ERR_PARSE_ARGS_");
}

/** `; did you mean 'x'?` when `given` is a likely slip for one of `candidates`, else the empty string. */
export function didYouMean(given: string, candidates: readonly string[], prefix = ""): string {
  const meant = likelyMeant(given, candidates);
  return meant === undefined ? "" : `; did you mean '${prefix}${meant}'?`;
}

/**
 * The line for a word given where a command goes. The word is quoted back only when it looks
 * like a command (a short lower-case word): what lands there by mistake is often a value, a key
 * say, and stderr ends up in CI logs.
 */
export function unknownCommand(prefix: string, given: string, commands: readonly string[], otherwise: string): string {
  const quoted = /^[a-z][a-z-]{0,23}$/.test(given) ? ` '${given}'` : "";
  return `${prefix}: unknown command${quoted}${didYouMean(given, commands) || otherwise}`;
}

/**
 * The one clause a usage error comes down to. An unknown option from parseArgs is quoted back
 * with the option of `options` it most likely meant; parseArgs quotes the option's name only,
 * never a value given with it (`--kye=VALUE`), so no key typed there is echoed.
 */
export function usageProblem(error: Error, options: readonly string[]): string {
  // "Unexpected argument 'X'": X is whatever was typed, a value included; the fact is enough.
  if (isParseArgsError(error) && "code" in error && error.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL")
    return "takes no positional arguments";
  const unknown =
    isParseArgsError(error) && "code" in error && error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
      ? /'([^']*)'/.exec(error.message)?.[1]
      : undefined;
  if (unknown === undefined) return firstSentence(error.message);
  // A bundle of short options (-xyz) is reported by its letter alone.
  const option = unknown.startsWith("-") ? unknown : `-${unknown}`;
  return `unknown option '${option}'${didYouMean(option.replace(/^--?/, ""), options, "--")}`;
}

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/**
 * A subcommand's arguments, for a command family that keeps one table of options (keys,
 * keyring, secret): parseArgs over all of them, then an option this subcommand does not take is
 * a usage error.
 */
export function parseSubcommandArgs<const O extends OptionsConfig>(args: readonly string[], options: O, allowed: readonly (keyof O)[]) {
  const parsed = parseArgs({ args: [...args], options, allowPositionals: true as const, strict: true as const });
  for (const option of Object.keys(parsed.values)) {
    if (!(allowed as readonly string[]).includes(option)) throw new UsageError(`option '--${option}' does not apply here`);
  }
  return parsed;
}

/** parseArgs follows its one-line diagnosis with advice about "--"; the diagnosis is enough. */
export function firstSentence(message: string): string {
  const end = message.indexOf(". ");
  return end === -1 ? message : message.slice(0, end);
}

/**
 * The one line printed for an error caas did not expect: its class and system code only, since
 * an unexpected error's message may quote anything it was handed, keys included.
 */
export function unexpectedErrorLine(prefix: string, error: unknown): string {
  const name = error instanceof Error ? error.name : typeof error;
  const code = error instanceof Error && "code" in error && typeof error.code === "string" ? ` ${error.code}` : "";
  return `${prefix}: unexpected error (${name}${code}); this is a bug in caas, please report it`;
}
