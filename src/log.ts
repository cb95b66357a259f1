/**
 * Structured logs: one JSON line per event on stdout, for journald. Fields are typed so that
 * only small scalars go in; no call site passes a body, a header value or a secret, and the
 * canary tests scan the output to keep it that way.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogField = string | number | boolean | undefined;
export type LogFields = Readonly<Record<string, LogField>>;

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
}

let stdoutErrorsIgnored = false;

/**
 * Bytes of log lines handed to stdout and not yet written past which new lines are dropped, and
 * counted, instead of held: stdout never blocks the process, so a reader that stalls would
 * otherwise grow it by every line logged meanwhile (a 503 is logged per request).
 */
const STDOUT_BACKLOG_BYTES = 1024 * 1024;
let stdoutBacklog = 0;
let droppedLines = 0;

/**
 * Writes a line to stdout. A stdout that went away (a closed pipe: EPIPE) would otherwise raise an
 * unhandled 'error' event, or throw, and end the process; losing log lines is better than losing
 * the service.
 */
function writeToStdout(line: string): void {
  if (!stdoutErrorsIgnored) {
    stdoutErrorsIgnored = true;
    process.stdout.on("error", () => undefined);
  }
  if (stdoutBacklog + line.length > STDOUT_BACKLOG_BYTES) {
    droppedLines += 1;
    return;
  }
  let text = line;
  if (droppedLines > 0) {
    const dropped = { time: new Date().toISOString(), level: "warn", event: "log_lines_dropped", pid: process.pid, lines: droppedLines };
    text = `${JSON.stringify(dropped)}\n${line}`;
    droppedLines = 0;
  }
  const length = text.length;
  stdoutBacklog += length;
  try {
    process.stdout.write(text, () => {
      stdoutBacklog -= length;
    });
  } catch {
    // The same closed pipe may also be reported at once, as a throw from write(): a log call must
    // never end the code that made it (a reload, a drain, an error answer).
  }
}

export function createLogger(minimum: LogLevel, write: (line: string) => void = writeToStdout): Logger {
  const threshold = LEVEL_RANK[minimum];
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < threshold) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, event, pid: process.pid, ...fields })}\n`);
  };
  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
    enabled: (level) => LEVEL_RANK[level] >= threshold,
  };
}

export const silentLogger: Logger = createLogger("error", () => undefined);

/**
 * `logger`, with every call that throws (a writer that failed, a sink gone) made a lost line: the
 * request path logs while answering, and a log line lost is better than an answer lost, or turned
 * into a 500, or into Bun's own plain-text 500 when the throw escapes the fetch handler.
 */
export function loggerThatNeverThrows(logger: Logger): Logger {
  const quietly =
    (level: LogLevel) =>
    (event: string, fields?: LogFields): void => {
      try {
        logger[level](event, fields);
      } catch {
        // The line is lost; the caller carries on.
      }
    };
  return {
    debug: quietly("debug"),
    info: quietly("info"),
    warn: quietly("warn"),
    error: quietly("error"),
    enabled: (level) => {
      try {
        return logger.enabled(level);
      } catch {
        return false;
      }
    },
  };
}
