/**
 * The audit trail (CAAS_AUDIT_LOG): one JSON line per request to a route that touches a secret,
 * whatever its outcome, refusals included (a bad API key, a body that fails validation), as
 * Vault's audit devices record denied requests. A line says who asked (address, API key name),
 * for what (the operation, the keyring key and version), when, under which request and trace id,
 * and how it ended (status, error code). Never data, aad, ciphertexts, digests, keys or API keys:
 * the line is built from these named fields only, none of which is read from a body's contents.
 * The lines are written by audit-trail.ts, each before its request's answer leaves.
 *
 * Requests refused before they were routed (the rate limit's 429, a target Bun rewrote, a target
 * caas refuses) have their line too, their operation read from the target (Audit.settleError).
 *
 * A route is audited when it declares an OpenAPI operationId (`detail: { operationId:
 * "oracle.seal" }`): that is its operation's name in the trail (routes.ts reads it). A route adds
 * what only it knows with one call on its request's `audit`, which every handler, derive and
 * resolve receives from the `caas.audit` plugin:
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
import { AuditUnavailable } from "../errors.ts";
import type { AuditOutcomeCode, AuditTrail } from "./audit-trail.ts";
import { answerFor } from "./error-answers.ts";
import { clientRequestIdOf, requestIdOf, traceIdOf } from "./request-ids.ts";
import type { KeyUseObserver } from "./metrics.ts";
import type { RouteTable } from "./routes.ts";

export { AuditTrail } from "./audit-trail.ts";

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

/** Who hears of each request's facts as they are learnt, besides its audit line (the metrics). */
export interface AuditSubscribers {
  /** The name of the API key the request was authenticated with, once. */
  readonly onCaller?: (apiKeyName: string) => void;
  /** Each use of a keyring key's version (KeyUseObserver). */
  readonly onKeyUse?: KeyUseObserver;
}

/**
 * One request's audit facts, gathered as its route learns them, and where a route reports a use
 * of a key: one event (keyUsed) that the audit line and every subscriber (the metrics) hear.
 */
export class RequestAudit {
  readonly #subscribers: AuditSubscribers;
  /** Whether each use's version is one more of a batch's (keyVersions) rather than the request's one keyVersion. */
  #versionPerItem = false;
  apiKeyName: string | undefined;
  keyName: string | undefined;
  keyVersion: number | undefined;
  /** The versions a batch's items used, each once, in the order first met. */
  keyVersions: number[] | undefined;
  /** Its line was written, or its write was tried and failed: either way it is not tried again. */
  settled = false;

  constructor(subscribers: AuditSubscribers = {}) {
    this.#subscribers = subscribers;
  }

  note(facts: AuditFacts): void {
    if (facts.apiKeyName !== undefined) {
      if (this.apiKeyName === undefined) this.#subscribers.onCaller?.(facts.apiKeyName);
      this.apiKeyName = facts.apiKeyName;
    }
    if (facts.keyName !== undefined) this.keyName = facts.keyName;
    if (facts.keyVersion !== undefined) this.keyVersion = facts.keyVersion;
    if (facts.batchKeyVersion !== undefined) {
      this.keyVersions ??= [];
      if (!this.keyVersions.includes(facts.batchKeyVersion)) this.keyVersions.push(facts.batchKeyVersion);
    }
  }

  /** For a batch whose items may each use another version (decrypt, verify): each use's version is listed in the line. */
  versionPerItem(): void {
    this.#versionPerItem = true;
  }

  /**
   * A keyring key's version was used (sealed, opened, signed, checked): recorded in the line, and
   * told to every subscriber. A method, not a field, so a request that uses no key (most of them)
   * makes no closure for it; the routes that hand it on as a KeyUseObserver wrap it there.
   */
  keyUsed(keyName: string, version: number, operation: Parameters<KeyUseObserver>[2]): void {
    this.note(this.#versionPerItem ? { keyName, batchKeyVersion: version } : { keyName, keyVersion: version });
    this.#subscribers.onKeyUse?.(keyName, version, operation);
  }
}

export interface AuditOptions {
  /** The client's address as the listener saw it; absent under app.handle() (tests). */
  readonly clientAddress?: (request: Request) => string | undefined;
  /** Who hears each request's caller and key uses (the metrics). */
  readonly subscribers?: AuditSubscribers;
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
  readonly subscribers: AuditSubscribers;
  /** The app's routes, by which a request's operation is named; none until useRoutes(): nothing is audited. */
  #routes: RouteTable | undefined;

  constructor(trail: AuditTrail, options: AuditOptions = {}) {
    this.trail = trail;
    this.#clientAddress = options.clientAddress;
    this.subscribers = options.subscribers ?? {};
  }

  /** The app's route table: a route with an operationId is audited under that name. */
  useRoutes(routes: RouteTable): void {
    this.#routes = routes;
  }

  /** The operation of a request Elysia routed to `route` (the pattern it names), or undefined when it is not audited. */
  #operationOf(route: string, method: string): string | undefined {
    return this.#routes?.routed(route)?.operations.get(method);
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
    return this.#routes?.match(path)?.operations.get(request.method);
  }

  /**
   * Writes the line of a request to an audited route once: resolves when it is written, rejects
   * with AuditUnavailable (its answer) when it cannot be. Undefined, with nothing to wait for, for
   * a route that is not audited, a request already settled or a trail that writes nothing. A
   * request refused before it was routed has no route: its operation is read from its target.
   */
  settle({ request, route, facts, body }: AuditedRequest, { status, code }: AuditOutcome): Promise<void> | undefined {
    if (!this.trail.enabled) return undefined;
    const operation = route === undefined || route === "" ? this.operationOfTarget(request) : this.#operationOf(route, request.method);
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
  settleError(audited: AuditedRequest, answered: AuditedAnswer): Promise<AuditedAnswer> | AuditedAnswer {
    const written = this.settle(audited, { status: answered.response.status, code: answered.code });
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
 * The request a line is about: its route as Elysia matched it (undefined or empty before
 * routing), what its handlers noted, and its body (for a batch's item count).
 */
export interface AuditedRequest {
  readonly request: Request;
  readonly route: string | undefined;
  readonly facts: RequestAudit | undefined;
  readonly body: unknown;
}

/** How a request was answered, as its line says it. */
export interface AuditOutcome {
  readonly status: number;
  readonly code: AuditOutcomeCode | undefined;
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
  const plugin = new Elysia({ name: "caas.audit" }).derive({ as: "global" }, () => ({ audit: new RequestAudit(audit.subscribers) }));
  // Only with a trail to write: an async hook is one more await on every request.
  if (audit.trail.enabled) {
    plugin.onAfterHandle({ as: "global" }, async ({ request, route, set, body, audit: facts }) => {
      const status = typeof set.status === "number" ? set.status : 200;
      // Rejects with AuditUnavailable, which the app's error handler answers (without a second line).
      await audit.settle({ request, route, facts, body }, { status, code: undefined });
    });
  }
  return plugin;
}

export type AuditPlugin = ReturnType<typeof auditPlugin>;
