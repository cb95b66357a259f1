/**
 * The audit trail (CAAS_AUDIT_LOG): one JSON line per request to a route that touches a secret,
 * whatever its outcome, refusals included (a bad API key, a body that fails validation), as
 * Vault's audit devices record denied requests. A line says who asked (address, API key name),
 * for what (the operation, the keyring key and version), when, under which request and trace id,
 * and how it ended (status, error code). Never data, aad, ciphertexts, digests, keys or API keys:
 * the line is built from these named fields only, none of which is read from a body's contents.
 *
 * Requests refused before they were routed (the rate limit's 429, a target Bun rewrote, a target
 * caas refuses) have their line too, their operation read from the target (Audit.settleError).
 *
 * Fail closed: an answer waits for its line to be written (write() returned), and a request
 * whose line is not written is answered 503 audit_unavailable instead of its result, so a line
 * and its answer always agree; /readyz says 503 until a write succeeds again. Lines are
 * group-committed: those of every request settled within one turn of the event loop go out in
 * one write() of whole lines (O_APPEND, so workers sharing the file never interleave), and each
 * of those requests is answered after it. One write() per request cost 40% of the oracle's
 * throughput (bench/load.ts, oracle-audit). The event loop never waits on a write: standard
 * output read slowly holds lines in a bounded queue, and past it requests are refused.
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
import { RouteMatcher, withoutTrailingSlash } from "./paths.ts";
import { clientRequestIdOf, requestIdOf, traceIdOf } from "./request-ids.ts";

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

/** Where the lines go: an Appender (files/append-file.ts), or anything that tells, once they are written, how many were taken whole. */
export interface AuditSink {
  append(lines: readonly string[], done: (written: number, error?: unknown) => void): void;
  reopen(): void;
  /** The most bytes one append should take, for a sink whose writes may not finish (standard output); no bound when absent. */
  readonly chunkBytes?: number;
  /** For a file: opens the path anew when the file was deleted, and says so; throws when it cannot. */
  replaceIfDeleted?(): boolean;
}

export type AuditOutcomeCode = RequestErrorCode | "internal";

/** One line of the trail, in the order its fields are written. */
export interface AuditEntry {
  /** caas's own id for the request, unique (request-ids.ts). */
  readonly requestId: string;
  /** The client's X-Request-Id, when it sent a safe one: neither unique nor to be trusted, but what the client knows. */
  readonly clientRequestId: string | undefined;
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

/** A request's line waiting to be written, and how its request learns whether it was. */
interface QueuedLine {
  readonly text: string;
  /** performance.now() when it was queued. */
  readonly queuedAt: number;
  readonly settle: (written: boolean) => void;
}

/**
 * Bytes of lines waiting to be written, or being written, past which a new line is refused at once
 * (503) instead of waiting: a reader of standard output that stalls holds the lines, never the
 * process. About 3,000 lines.
 */
export const AUDIT_QUEUE_BYTES = 1024 * 1024;

/**
 * Longest a line waits behind a write that has not finished (a stalled standard output) before it
 * is withdrawn and its request answered 503: under the listener's idle timeout (10 s), which would
 * otherwise cut the connection of a request whose line is then written as answered.
 */
export const AUDIT_WAIT_MS = 5_000;

export interface AuditTrailOptions {
  readonly logger?: Logger;
  readonly now?: () => Date;
  readonly queueBytes?: number;
  readonly waitMs?: number;
}

/**
 * The trail itself: writes lines, one write at a time, each of every line queued meanwhile (up to
 * the sink's chunkBytes); knows whether writing is failing, and tries again (first reopening the
 * file) when asked while failing. A trail without a sink (CAAS_AUDIT_LOG unset) takes every line
 * and writes none.
 */
export class AuditTrail {
  readonly #sink: AuditSink | undefined;
  readonly #logger: Logger | undefined;
  readonly #now: () => Date;
  readonly #queueBytes: number;
  readonly #waitMs: number;
  #failingSince: string | undefined;
  /** Lines waiting for the next write, oldest first. */
  #queue: QueuedLine[] = [];
  /** A write of the queue is due at the end of this turn of the event loop. */
  #due = false;
  /** Bytes of the lines queued and being written. */
  #queued = 0;
  #writing = false;
  /** Lines were withdrawn from behind the write under way. */
  #stalled = false;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** Requests answered 503 audit_unavailable since the trail started failing. */
  #refused = 0;
  #writeFailures = 0;

  constructor(sink?: AuditSink, options: AuditTrailOptions = {}) {
    this.#sink = sink;
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
    this.#queueBytes = options.queueBytes ?? AUDIT_QUEUE_BYTES;
    this.#waitMs = options.waitMs ?? AUDIT_WAIT_MS;
  }

  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** Writes that failed or did not finish in time since start, retries included: what the metrics page reports. */
  get writeFailures(): number {
    return this.#writeFailures;
  }

  /**
   * Queues the entry's line for the next group write: resolves once it is written, rejects with
   * AuditUnavailable when it is not (the write failed, or cut it short; the queue is full; it
   * waited too long). Undefined when there is no sink (nothing to wait for).
   */
  record(entry: AuditEntry): Promise<void> | undefined {
    if (this.#sink === undefined) return undefined;
    const text = `${JSON.stringify({ time: this.#now().toISOString(), ...entry })}\n`;
    // Once lines had to be withdrawn, a new one would only wait as long: refused at once until the write finishes.
    if (this.#queued + text.length > this.#queueBytes || (this.#writing && this.#stalled)) {
      this.#refuse(1, "queue_full");
      return Promise.reject(new AuditUnavailable());
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ text, queuedAt: performance.now(), settle: (written) => (written ? resolve() : reject(new AuditUnavailable())) });
    this.#queued += text.length;
    if (!this.#due) {
      this.#due = true;
      setImmediate(() => {
        this.#due = false;
        this.#write(false);
      });
    }
    return promise;
  }

  /**
   * Writes the queued lines in one append (as many as the sink's chunkBytes allows), unless a
   * write is under way: then they wait for it. The trail's own lines go first: that the file was
   * re-created, or that writing resumed after a failure. `probe`: write those even with no
   * request's line waiting (a readiness probe).
   */
  #write(probe: boolean): void {
    const sink = this.#sink;
    if (sink === undefined || (this.#queue.length === 0 && !probe)) return;
    if (this.#writing) {
      this.#armDeadline();
      return;
    }
    const taken = this.#take(sink.chunkBytes ?? Number.POSITIVE_INFINITY);
    const notes: string[] = [];
    try {
      if (this.#failingSince !== undefined) sink.reopen();
      else if (sink.replaceIfDeleted?.() === true) {
        notes.push(this.#note("audit.recreated", {}));
        this.#logger?.warn("audit_recreated", { hint: "the audit file was deleted; a new one was created at its path" });
      }
    } catch (error) {
      this.#failed(error);
      this.#settle(taken, 0);
      return;
    }
    const gap = this.#failingSince === undefined ? undefined : { failingSince: this.#failingSince, refused: this.#refused };
    if (gap !== undefined) notes.push(this.#note("audit.resumed", gap));
    if (notes.length === 0 && taken.length === 0) return;
    this.#writing = true;
    sink.append([...notes, ...taken.map((line) => line.text)], (written, error) => {
      this.#writing = false;
      this.#stalled = false;
      if (gap !== undefined && written >= notes.length) this.#resumed(gap);
      if (error !== undefined) this.#failed(error);
      this.#settle(taken, written - notes.length);
      this.#write(false);
    });
    // Lines left behind a write that has not finished wait no longer than the deadline, whether or not more arrive.
    if (this.#writing && this.#queue.length > 0) this.#armDeadline();
  }

  /** The oldest queued lines, as many as fit in `bytes` (at least one). */
  #take(bytes: number): QueuedLine[] {
    let count = 0;
    let size = 0;
    for (const line of this.#queue) {
      if (count > 0 && size + line.text.length > bytes) break;
      size += line.text.length;
      count += 1;
    }
    return count === this.#queue.length ? this.#queue.splice(0) : this.#queue.splice(0, count);
  }

  /** Answers the requests of `lines`, of which the first `written` were written. */
  #settle(lines: readonly QueuedLine[], written: number): void {
    for (const [index, line] of lines.entries()) {
      this.#queued -= line.text.length;
      line.settle(index < written);
    }
    const refused = lines.length - Math.max(0, written);
    if (refused > 0) this.#refused += refused;
  }

  /** Lines that cannot wait any longer behind a write that has not finished are withdrawn, and their requests refused. */
  #armDeadline(): void {
    const first = this.#queue[0];
    if (this.#deadline !== undefined || first === undefined) return;
    this.#deadline = setTimeout(
      () => {
        this.#deadline = undefined;
        const cutoff = performance.now() - this.#waitMs;
        const expired = this.#queue.findIndex((line) => line.queuedAt > cutoff);
        const withdrawn = this.#queue.splice(0, expired < 0 ? this.#queue.length : expired);
        if (withdrawn.length > 0) {
          this.#settle(withdrawn, 0);
          this.#stalled = true;
          this.#refuse(0, "stalled");
        }
        if (this.#writing) this.#armDeadline();
      },
      Math.max(0, first.queuedAt + this.#waitMs - performance.now()),
    );
    this.#deadline.unref();
  }

  #note(operation: string, fields: Readonly<Record<string, string | number>>): string {
    return `${JSON.stringify({ time: this.#now().toISOString(), operation, ...fields })}\n`;
  }

  /**
   * Whether lines can be written now. Never waits on a write: while one is under way the answer is
   * what is known. Otherwise it checks that the file is still there (re-creating it if it was
   * deleted) and, while failing, tries once more (readiness probes are how a trail left without
   * traffic recovers).
   */
  ready(): boolean {
    if (this.#sink === undefined) return true;
    if (!this.#writing) this.#write(true);
    return this.#failingSince === undefined;
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

  #resumed(gap: { readonly failingSince: string; readonly refused: number }): void {
    this.#logger?.info("audit_resumed", gap);
    this.#refused -= gap.refused;
    // Refusals since the resumed line was handed on start a gap of their own.
    this.#failingSince = this.#refused > 0 ? this.#now().toISOString() : undefined;
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

  /** Refused without a write failing: the writes under way are not finishing (a stalled standard output). */
  #refuse(requests: number, reason: "queue_full" | "stalled"): void {
    this.#refused += requests;
    const starting = this.#failingSince === undefined;
    // Counted with the failed writes, which the alert on caas_audit_write_failures_total watches: each
    // time lines are withdrawn (a write that did not finish in time), and a queue found full.
    if (starting || reason === "stalled") this.#writeFailures += 1;
    if (!starting) return;
    this.#failingSince = this.#now().toISOString();
    this.#logger?.error("audit_stalled", {
      reason,
      hint: "the audit trail's writes are not finishing (a reader of standard output that stalls?): requests to audited routes are answered 503 audit_unavailable and /readyz 503 until they do",
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
  /** The same, by route pattern, for a request answered before it was routed: operation by method. */
  readonly #byTarget = new RouteMatcher<Map<string, string>>();
  readonly #methodsByRoute = new Map<string, Map<string, string>>();

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
      let methods = this.#methodsByRoute.get(bare);
      if (methods === undefined) {
        methods = new Map<string, string>();
        this.#methodsByRoute.set(bare, methods);
        this.#byTarget.add(bare, methods);
      }
      methods.set(route.method, operation);
    }
  }

  /** The operation of a request to `route`, or undefined when it is not audited. */
  operationOf(route: string | undefined, method: string): string | undefined {
    if (route === undefined) return undefined;
    const found = this.#operations.get(route);
    return found !== undefined && found.method === method ? found.operation : undefined;
  }

  /**
   * The operation a request answered before routing was aimed at: its target read as a URL parser
   * would (dot segments resolved, "%2e" too, the fragment dropped), since that is the route a
   * proxy or Bun would have taken it to.
   */
  operationOfTarget(request: Request): string | undefined {
    let path: string;
    try {
      path = new URL(request.url, "http://target.invalid").pathname;
    } catch {
      return undefined;
    }
    return this.#byTarget.match(path)?.get(request.method);
  }

  /**
   * Writes the line of a request to an audited route once: resolves when it is written, rejects
   * with AuditUnavailable (its answer) when it cannot be. Undefined, with nothing to wait for, for
   * a route that is not audited, a request already settled or a trail that writes nothing. A
   * request refused before it was routed has no route: its operation is read from its target.
   */
  settle(
    request: Request,
    route: string | undefined,
    facts: RequestAudit | undefined,
    body: unknown,
    status: number,
    code: AuditOutcomeCode | undefined,
  ): Promise<void> | undefined {
    if (!this.trail.enabled) return undefined;
    const operation = route === undefined || route === "" ? this.operationOfTarget(request) : this.operationOf(route, request.method);
    if (operation === undefined || facts?.settled === true) return undefined;
    if (facts !== undefined) facts.settled = true;
    return this.trail.record({
      requestId: requestIdOf(request),
      clientRequestId: clientRequestIdOf(request.headers),
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

  /**
   * For an error answer, chosen by the app's error handler or made before routing (the rate
   * limit's 429, a rewritten target's 400, a last-resort 500): that answer once its line is
   * written, or 503 audit_unavailable when it cannot be.
   */
  settleError(
    request: Request,
    route: string | undefined,
    facts: RequestAudit | undefined,
    body: unknown,
    answered: AuditedAnswer,
  ): Promise<AuditedAnswer> | AuditedAnswer {
    const written = this.settle(request, route, facts, body, answered.response.status, answered.code);
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

/** An answer and the code it carries, as the trail records it. */
export interface AuditedAnswer {
  readonly response: Response;
  readonly code: AuditOutcomeCode;
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
      await audit.settle(request, route, facts, body, status, undefined);
    });
  }
  return plugin;
}

export type AuditPlugin = ReturnType<typeof auditPlugin>;
