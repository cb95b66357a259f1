/**
 * The audit trail (CAAS_AUDIT_LOG): one JSON line per request to a route that touches a secret,
 * whatever its outcome, refusals included (a bad API key, a body that fails validation), as
 * Vault's audit devices record denied requests. A line says who asked (address, API key name),
 * for what (the operation, the keyring key and version), when, under which request and trace id,
 * and how it ended (status, error code). Never data, aad, ciphertexts, digests, keys or API keys:
 * the line is built from these named fields only, none of which is read from a body's contents.
 *
 * Fail closed: an answer waits for its line to be written (write() returned), and a request
 * whose line cannot be written is answered 503 audit_unavailable instead of its result; /readyz
 * says 503 until a write succeeds again. Lines are group-committed: those of every request
 * settled within one turn of the event loop go out in one write() of whole lines (O_APPEND, so
 * workers sharing the file never interleave), and each of those requests is answered after it.
 * One write() per request cost 40% of the oracle's throughput (bench/load.ts, oracle-audit).
 *
 * A route is audited when it declares an OpenAPI operationId (`detail: { operationId:
 * "oracle.seal" }`): that is its operation's name in the trail. A route adds what only it knows
 * with one call on its request's `audit`, which every handler, derive and resolve receives from
 * the `caas.audit` plugin:
 *
 *     .use(audit)
 *     .post("/keyring/:name/encrypt", ({ audit, params, body }) => {
 *       const key = keyring.current(params.name);
 *       audit.note({ keyName: key.name, keyVersion: key.version });
 *       return encryptWith(key, body);
 *     }, { detail: { operationId: "keyring.encrypt" } })
 *
 * Batches need nothing more: the item count is read from the body's `items` array.
 */
import { Elysia } from "elysia";
import { AuditUnavailable, type RequestErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { answerFor } from "./error-answers.ts";
import { REQUEST_ID_HEADER } from "./headers.ts";
import { withoutTrailingSlash } from "./paths.ts";
import { traceIdOf } from "./request-ids.ts";

/** What a route may add to its request's audit line. Names and numbers only, never key material. */
export interface AuditFacts {
  /** The name (never the key) of the API key the caller was authenticated with. */
  readonly apiKeyName?: string;
  /** The keyring key the request used, and its version. */
  readonly keyName?: string;
  readonly keyVersion?: number;
  /** For a batch whose items may each open under another version: one more version used. */
  readonly batchKeyVersion?: number;
}

/** One request's audit facts, gathered as its route learns them. */
export class RequestAudit {
  readonly #onCaller: ((apiKeyName: string) => void) | undefined;
  apiKeyName: string | undefined;
  keyName: string | undefined;
  keyVersion: number | undefined;
  /** The versions a batch's items used, each once, in the order first met. */
  keyVersions: number[] | undefined;
  /** Its line was written, or its write was tried and failed: either way it is not tried again. */
  settled = false;

  /** `onCaller` learns the name of the API key the request was authenticated with, once (the metrics count it). */
  constructor(onCaller?: (apiKeyName: string) => void) {
    this.#onCaller = onCaller;
  }

  note(facts: AuditFacts): void {
    if (facts.apiKeyName !== undefined) {
      if (this.apiKeyName === undefined) this.#onCaller?.(facts.apiKeyName);
      this.apiKeyName = facts.apiKeyName;
    }
    if (facts.keyName !== undefined) this.keyName = facts.keyName;
    if (facts.keyVersion !== undefined) this.keyVersion = facts.keyVersion;
    if (facts.batchKeyVersion !== undefined) {
      this.keyVersions ??= [];
      if (!this.keyVersions.includes(facts.batchKeyVersion)) this.keyVersions.push(facts.batchKeyVersion);
    }
  }
}

/** Where the lines go: AppendFile (files/append-file.ts), or anything that throws when a line is not taken whole. */
export interface AuditSink {
  append(line: string): void;
  reopen(): void;
}

export type AuditOutcomeCode = RequestErrorCode | "internal";

/** One line of the trail, in the order its fields are written. */
export interface AuditEntry {
  readonly requestId: string | undefined;
  readonly traceId: string | undefined;
  readonly client: string | undefined;
  readonly apiKeyName: string | undefined;
  readonly operation: string;
  readonly keyName: string | undefined;
  readonly keyVersion: number | undefined;
  readonly keyVersions: readonly number[] | undefined;
  readonly items: number | undefined;
  readonly status: number;
  readonly code: AuditOutcomeCode | undefined;
}

function errnoOf(error: unknown): string {
  return error instanceof Error && "errno" in error && typeof error.errno === "string"
    ? error.errno
    : error instanceof Error
      ? error.name
      : "unknown";
}

/** The lines of one turn of the event loop, and the promise every one of their requests waits on. */
class GroupWrite {
  readonly lines: string[] = [];
  readonly written: Promise<void>;
  resolve!: () => void;
  reject!: (error: AuditUnavailable) => void;
  constructor() {
    this.written = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * The trail itself: writes lines, knows whether the last write succeeded, and tries again (first
 * reopening the file) when asked while failing. A trail without a sink (CAAS_AUDIT_LOG unset)
 * takes every line and writes none.
 */
export class AuditTrail {
  readonly #sink: AuditSink | undefined;
  readonly #logger: Logger | undefined;
  readonly #now: () => Date;
  #failingSince: string | undefined;
  /** The lines waiting for this turn's write, if any. */
  #batch: GroupWrite | undefined;
  /** Requests answered 503 audit_unavailable since the trail started failing. */
  #refused = 0;
  #writeFailures = 0;

  constructor(sink?: AuditSink, logger?: Logger, now: () => Date = () => new Date()) {
    this.#sink = sink;
    this.#logger = logger;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** Writes that failed since start, retries included: what the metrics page reports. */
  get writeFailures(): number {
    return this.#writeFailures;
  }

  /**
   * Queues the entry's line for the next group write: resolves once it is written, rejects with
   * AuditUnavailable when it cannot be. Undefined when there is no sink (nothing to wait for).
   */
  record(entry: AuditEntry): Promise<void> | undefined {
    if (this.#sink === undefined) return undefined;
    const line = `${JSON.stringify({ time: this.#now().toISOString(), ...entry })}\n`;
    let batch = this.#batch;
    if (batch === undefined) {
      batch = this.#batch = new GroupWrite();
      setImmediate(() => this.#flush());
    }
    batch.lines.push(line);
    return batch.written;
  }

  #flush(): void {
    const batch = this.#batch;
    const sink = this.#sink;
    this.#batch = undefined;
    if (batch === undefined || sink === undefined) return;
    try {
      if (this.#failingSince !== undefined) this.#resume(sink);
      sink.append(batch.lines.join(""));
      batch.resolve();
    } catch (error) {
      this.#failed(error);
      this.#refused += batch.lines.length;
      batch.reject(new AuditUnavailable());
    }
  }

  /** Whether lines can be written: while failing, tries once more (readiness probes are how a trail left without traffic recovers). */
  ready(): boolean {
    const sink = this.#sink;
    if (sink === undefined || this.#failingSince === undefined) return true;
    try {
      this.#resume(sink);
      return true;
    } catch (error) {
      this.#failed(error);
      return false;
    }
  }

  /** SIGHUP after a rotation: new lines go to a new file at the path. A failure keeps the old file and is logged. */
  reopen(): void {
    if (this.#sink === undefined) return;
    try {
      this.#sink.reopen();
      this.#logger?.info("audit_reopened", {});
    } catch (error) {
      this.#logger?.error("audit_reopen_failed", { errno: errnoOf(error), hint: "lines still go to the file opened before" });
    }
  }

  /**
   * After a failure the file is opened afresh (a descriptor broken for good is not kept), and the
   * first line written says what the gap was: since when, and how many requests were refused.
   */
  #resume(sink: AuditSink): void {
    sink.reopen();
    const failingSince = this.#failingSince;
    sink.append(
      `${JSON.stringify({ time: this.#now().toISOString(), operation: "audit.resumed", failingSince, refused: this.#refused })}\n`,
    );
    this.#logger?.info("audit_resumed", { failingSince, refused: this.#refused });
    this.#failingSince = undefined;
    this.#refused = 0;
  }

  #failed(error: unknown): void {
    this.#writeFailures += 1;
    if (this.#failingSince !== undefined) return;
    this.#failingSince = this.#now().toISOString();
    this.#logger?.error("audit_write_failed", {
      errno: errnoOf(error),
      hint: "requests to audited routes are answered 503 audit_unavailable and /readyz 503 until a write succeeds",
    });
  }
}

/** What the plugin reads of an app's routes (Elysia's InternalRoute) to know which are audited. */
export interface AuditableRoute {
  readonly method: string;
  readonly path: string;
  readonly hooks: { readonly detail?: { readonly operationId?: string | undefined } | undefined };
}

export interface AuditOptions {
  /** The client's address as the listener saw it; absent under app.handle() (tests). */
  readonly clientAddress?: (request: Request) => string | undefined;
  /** Told the name of each request's API key once it is authenticated (metrics). */
  readonly onCaller?: (apiKeyName: string) => void;
}

/** The items a batch body holds, read before or after validation; undefined for a body that is not a batch. */
function itemsOf(body: unknown): number | undefined {
  if (typeof body !== "object" || body === null || !("items" in body)) return undefined;
  const { items } = body as { readonly items: unknown };
  return Array.isArray(items) ? items.length : undefined;
}

/** The trail as the app uses it: which routes are audited, and the line of each request to one. */
export class Audit {
  readonly trail: AuditTrail;
  readonly #clientAddress: ((request: Request) => string | undefined) | undefined;
  readonly onCaller: ((apiKeyName: string) => void) | undefined;
  /** operationId by route path (with and without its trailing slash) and method. */
  readonly #operations = new Map<string, { readonly method: string; readonly operation: string }>();

  constructor(trail: AuditTrail, options: AuditOptions = {}) {
    this.trail = trail;
    this.#clientAddress = options.clientAddress;
    this.onCaller = options.onCaller;
  }

  /** Reads every route's operationId: a route with one is audited under that name. */
  registerRoutes(routes: readonly AuditableRoute[]): void {
    for (const route of routes) {
      const operation = route.hooks.detail?.operationId;
      if (operation === undefined) continue;
      const bare = withoutTrailingSlash(route.path);
      for (const path of [bare, `${bare}/`]) this.#operations.set(path, { method: route.method, operation });
    }
  }

  /** The operation of a request to `route`, or undefined when it is not audited. */
  operationOf(route: string | undefined, method: string): string | undefined {
    if (route === undefined) return undefined;
    const found = this.#operations.get(route);
    return found !== undefined && found.method === method ? found.operation : undefined;
  }

  /**
   * Writes the line of a request to an audited route once: resolves when it is written, rejects
   * with AuditUnavailable (its answer) when it cannot be. Undefined, with nothing to wait for, for
   * a route that is not audited, a request already settled or a trail that writes nothing.
   */
  settle(
    request: Request,
    route: string | undefined,
    facts: RequestAudit | undefined,
    requestId: string | undefined,
    body: unknown,
    status: number,
    code: AuditOutcomeCode | undefined,
  ): Promise<void> | undefined {
    if (!this.trail.enabled) return undefined;
    const operation = this.operationOf(route, request.method);
    if (operation === undefined || facts?.settled === true) return undefined;
    if (facts !== undefined) facts.settled = true;
    return this.trail.record({
      requestId,
      traceId: traceIdOf(request.headers),
      client: this.#clientAddress?.(request),
      apiKeyName: facts?.apiKeyName,
      operation,
      keyName: facts?.keyName,
      keyVersion: facts?.keyVersion,
      keyVersions: facts?.keyVersions === undefined ? undefined : [...facts.keyVersions].sort((a, b) => a - b),
      items: itemsOf(body),
      status,
      code,
    });
  }

  /** For the app's error handler: the answer it chose, or 503 audit_unavailable when the line of that answer cannot be written. */
  settleError(
    request: Request,
    route: string | undefined,
    facts: RequestAudit | undefined,
    requestId: string | undefined,
    body: unknown,
    answered: { readonly response: Response; readonly code: AuditOutcomeCode },
  ):
    | Promise<{ readonly response: Response; readonly code: AuditOutcomeCode }>
    | { readonly response: Response; readonly code: AuditOutcomeCode } {
    const written = this.settle(request, route, facts, requestId, body, answered.response.status, answered.code);
    if (written === undefined) return answered;
    return written.then(
      () => answered,
      (error: unknown) => {
        const refusal = error instanceof AuditUnavailable ? error : new AuditUnavailable();
        return { response: answerFor(refusal), code: refusal.code };
      },
    );
  }
}

/**
 * The `caas.audit` plugin: every request's `audit` (RequestAudit), and the line of each success on
 * an audited route, written before the answer leaves. Failures are settled by the app's error
 * handler (Audit.settleError), which alone knows the answer chosen. Modules that call
 * `audit.note()` `.use()` this same instance, which Elysia registers once by its name.
 */
export function auditPlugin(audit: Audit) {
  const plugin = new Elysia({ name: "caas.audit" }).derive({ as: "global" }, () => ({ audit: new RequestAudit(audit.onCaller) }));
  // Only with a trail to write: an async hook is one more await on every request.
  if (audit.trail.enabled) {
    plugin.onAfterHandle({ as: "global" }, async ({ request, route, set, body, audit: facts }) => {
      const status = typeof set.status === "number" ? set.status : 200;
      // Rejects with AuditUnavailable, which the app's error handler answers (without a second line).
      await audit.settle(request, route, facts, String(set.headers[REQUEST_ID_HEADER] ?? ""), body, status, undefined);
    });
  }
  return plugin;
}

export type AuditPlugin = ReturnType<typeof auditPlugin>;
