/**
 * What a CLI command may touch of the outside world, passed in rather than reached for, so
 * tests run a command in-process and read exactly what it printed and returned.
 */
export interface CliIo {
  /** One line of standard output, without its newline. */
  out(line: string): void;
  /** One line of standard error, without its newline. */
  err(line: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes, from sysexits.h where one fits. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
/** EX_CONFIG: a configuration or file the command needs is missing, unreadable or wrong. */
export const EXIT_CONFIG = 78;

/** node:util parseArgs reports bad arguments as TypeErrors with an ERR_PARSE_ARGS_* code. */
export function isParseArgsError(error: unknown): error is TypeError {
  return error instanceof TypeError && "code" in error && typeof error.code === "string" && error.code.startsWith("ERR_PARSE_ARGS_");
}

/** parseArgs follows its one-line diagnosis with advice about "--"; the diagnosis is enough. */
export function firstSentence(message: string): string {
  const end = message.indexOf(". ");
  return end === -1 ? message : message.slice(0, end);
}
