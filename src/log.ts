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

/** Events a client causes once per request, however fast it sends requests. */
const PER_REQUEST_EVENTS: ReadonlySet<string> = new Set(["request_refused", "request_failed"]);

export interface RepeatLimits {
  /** How long a window lasts: each kind starts afresh, and what was held back is summarised, at its end. */
  readonly intervalMs: number;
  /** Lines of one kind written in full per window; more are counted. */
  readonly linesPerKind: number;
  /** Kinds told apart by key name per window; past it, a code's further key names share one kind. */
  readonly kinds: number;
}

/**
 * At most 10 lines of a kind per 10 s, then one summary: at most a few hundred lines a minute
 * from a flood of refusals, well inside journald's default (10,000 per 30 s), which would
 * otherwise drop reload_failed and worker_exited with them.
 */
export const REPEAT_LIMITS: RepeatLimits = { intervalMs: 10_000, linesPerKind: 10, kinds: 256 };

interface Tally {
  readonly event: string;
  readonly fields: LogFields;
  logged: number;
  held: number;
  /** When the first line held back since the last summary was, ISO 8601. */
  heldSince: string;
}

/**
 * `logger`, with the per-request refusal and failure lines (request_refused, request_failed)
 * summarised: within each window, a kind (event, code and API key name) gets its first
 * `linesPerKind` lines in full; the rest are counted and said in one `<event>_repeats` line
 * (code, status, apiKeyName, count, since) when the window ends, or before the next line of any
 * other event at info or above. So a flood of refusals grows the log with time, not with
 * requests, and never hides a line of another kind. Every other event passes untouched.
 */
export function summarisingRepeats(logger: Logger, limits: RepeatLimits = REPEAT_LIMITS): Logger {
  const tallies = new Map<string, Tally>();
  let held = 0;
  let window: ReturnType<typeof setInterval> | undefined;
  const sayHeld = () => {
    if (held === 0) return;
    held = 0;
    for (const tally of tallies.values()) {
      if (tally.held === 0) continue;
      const { code, status, apiKeyName } = tally.fields;
      logger.info(`${tally.event}_repeats`, { code, status, apiKeyName, count: tally.held, since: tally.heldSince });
      tally.held = 0;
    }
  };
  const endWindow = () => {
    if (tallies.size === 0) {
      clearInterval(window);
      window = undefined;
    }
    sayHeld();
    tallies.clear();
  };
  const kindOf = (event: string, fields: LogFields | undefined): string => {
    const code = String(fields?.code ?? "");
    const named = `${event} ${code} ${String(fields?.apiKeyName ?? "")}`;
    return tallies.has(named) || tallies.size < limits.kinds ? named : `${event} ${code} *`;
  };
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (!PER_REQUEST_EVENTS.has(event)) {
      if (level !== "debug") sayHeld();
      logger[level](event, fields);
      return;
    }
    const kind = kindOf(event, fields);
    let tally = tallies.get(kind);
    if (tally === undefined) {
      const apiKeyName = kind.endsWith(" *") ? "*" : fields?.apiKeyName;
      tally = { event, fields: { code: fields?.code, status: fields?.status, apiKeyName }, logged: 0, held: 0, heldSince: "" };
      tallies.set(kind, tally);
    }
    if (window === undefined) {
      window = setInterval(endWindow, limits.intervalMs);
      // A summary is not worth keeping a process alive for.
      window.unref();
    }
    if (tally.logged < limits.linesPerKind) {
      tally.logged += 1;
      logger[level](event, fields);
      return;
    }
    if (tally.held === 0) tally.heldSince = new Date().toISOString();
    tally.held += 1;
    held += 1;
  };
  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
    enabled: (level) => logger.enabled(level),
  };
}
