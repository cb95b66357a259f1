/**
 * Wraps the app's fetch with what every request gets before and after routing: the in-flight
 * gauge and the route/status/latency metrics, and the debug access log. Kept outside Elysia so it
 * costs no lifecycle hooks. The info lines and audit lines about the app's refusals are the app's
 * (app.ts); only the answers made outside it (answerOutsideApp) get theirs here.
 */
import type { Server } from "bun";
import { type Logger, loggerThatNeverThrows } from "../log.ts";
import { internalError } from "../http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../http/headers.ts";
import { answeredRequestIdOf, clientRequestIdOf, requestIdOf, traceIdOf } from "../http/request-ids.ts";
import { type Audit, type AuditedAnswer, RequestAudit } from "../http/audit.ts";
import { pathOf } from "../http/paths.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Gate } from "../http/rate-limit.ts";

export type FetchHandler = (request: Request, server?: Server<undefined>) => Response | Promise<Response>;

export interface InstrumentOptions {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The rate limit: may answer a request before it is routed; its answers are counted like any other. */
  readonly gate?: Gate | undefined;
  /** Names the valid API key a refused request's headers carry, for its log and audit lines. */
  readonly keyNameOf?: ((request: Request) => string | undefined) | undefined;
  /** Writes the audit line of each answer made here (the gate's, the last-resort 500) to an audited route. */
  readonly audit?: Audit | undefined;
}

/** The fields of a log line about a request answered outside the app. */
function aboutRequest(request: Request, options: InstrumentOptions) {
  return {
    route: options.metrics.routeOf(pathOf(request.url)),
    clientRequestId: clientRequestIdOf(request.headers),
    traceId: traceIdOf(request.headers),
    apiKeyName: options.keyNameOf?.(request),
  };
}

/**
 * An answer made outside the app (the rate limit's 429, a rewritten target's 400, a last-resort
 * 500), settled as the app settles its own: its audit line written first, or 503
 * audit_unavailable when it cannot be; counted, logged at info when noteworthy, and given the
 * request's id.
 */
export async function answerOutsideApp(request: Request, answered: AuditedAnswer, options: InstrumentOptions): Promise<Response> {
  const log = loggerThatNeverThrows(options.logger);
  let settled = answered;
  if (options.audit !== undefined) {
    const facts = new RequestAudit();
    const apiKeyName = options.keyNameOf?.(request);
    if (apiKeyName !== undefined) facts.note({ apiKeyName });
    settled = await options.audit.settleError({ request, route: undefined, facts, body: undefined }, answered);
  }
  const { response, code } = settled;
  response.headers.set(REQUEST_ID_HEADER, answeredRequestIdOf(request));
  options.metrics.countError(code);
  const status = response.status;
  // A bug's 500 has its own line already (internal_error); a rewritten target's 400 is not noteworthy.
  if (code !== "internal" && (status === 429 || status >= 500)) {
    log.info(status >= 500 ? "request_failed" : "request_refused", {
      ...aboutRequest(request, options),
      status,
      code,
      requestId: requestIdOf(request),
    });
  }
  return response;
}

export function instrument(handle: FetchHandler, options: InstrumentOptions): FetchHandler {
  const { metrics, gate } = options;
  // The access log line is written outside the try below: a throw there would reach Bun.
  const log = loggerThatNeverThrows(options.logger);
  const accessLog = log.enabled("debug");
  return async (request, server) => {
    const started = performance.now();
    metrics.inFlight += 1;
    let response: Response;
    try {
      const refused = gate?.(request, server);
      response =
        refused === undefined
          ? await handle(request, server)
          : await answerOutsideApp(request, { response: refused, code: "rate_limited" }, options);
    } catch (error) {
      // The last resort: the app answers its own errors (error-answers.ts), so this is a bug in
      // the app, Elysia or the gate. Answered here, not by Bun, whose 500 is plain text without
      // caas's headers and logs the stack trace, per request.
      let fields = {};
      try {
        fields = aboutRequest(request, options);
      } catch {
        // What the line says about the request is lost, not the answer.
      }
      const answered = { response: internalError(log, requestIdOf(request), error, fields), code: "internal" as const };
      try {
        response = await answerOutsideApp(request, answered, options);
      } catch {
        response = answered.response;
      }
    }
    metrics.inFlight -= 1;
    const status = response.status;
    const seconds = (performance.now() - started) / 1000;
    const route = metrics.routeIndexOf(pathOf(request.url));
    metrics.observe(route, status, seconds);
    // The gate's refusals and a body key's (Admissions.chargeToKey, answered by the app) alike.
    if (status === 429) metrics.rateLimited += 1;
    if (accessLog) {
      log.debug("request", {
        id: requestIdOf(request),
        clientRequestId: clientRequestIdOf(request.headers),
        traceId: traceIdOf(request.headers),
        method: request.method,
        route: metrics.routeName(route),
        status,
        ms: Math.round(seconds * 100_000) / 100,
      });
    }
    return response;
  };
}
