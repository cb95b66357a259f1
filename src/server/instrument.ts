/**
 * Wraps the app's fetch with what every request gets before and after routing: the in-flight
 * gauge and the route/status/latency metrics, and the debug access log. Kept outside Elysia so it
 * costs no lifecycle hooks. The request id is the app's (app.ts), as are the info lines about its
 * refusals; only the rate limit's 429s and the last-resort 500s, answered here, get theirs here.
 */
import type { Server } from "bun";
import { type Logger, loggerThatNeverThrows } from "../log.ts";
import { internalError } from "../http/error-answers.ts";
import { REQUEST_ID_HEADER } from "../http/headers.ts";
import { requestIdOf, traceIdOf } from "../http/request-ids.ts";
import { pathOf } from "../http/paths.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Gate } from "../http/rate-limit.ts";

export type FetchHandler = (request: Request, server?: Server<undefined>) => Response | Promise<Response>;

/**
 * `gate` (the rate limit) may answer a request before it is routed; its answers are counted like
 * any other. `keyNameOf` names the valid API key a refused request's headers carry, for its log line.
 */
export function instrument(
  handle: FetchHandler,
  metrics: Metrics,
  logger: Logger,
  gate?: Gate,
  keyNameOf?: (request: Request) => string | undefined,
): FetchHandler {
  // The access log line is written outside the try below: a throw there would reach Bun.
  const log = loggerThatNeverThrows(logger);
  const accessLog = log.enabled("debug");
  const about = (request: Request) => ({
    route: metrics.routeOf(pathOf(request.url)),
    traceId: traceIdOf(request.headers),
    apiKeyName: keyNameOf?.(request),
  });
  return async (request, server) => {
    const started = performance.now();
    metrics.inFlight += 1;
    let response: Response;
    try {
      const refused = gate?.(request, server);
      if (refused !== undefined) {
        const requestId = requestIdOf(request.headers);
        refused.headers.set(REQUEST_ID_HEADER, requestId);
        log.info("request_refused", { ...about(request), status: refused.status, code: "rate_limited", requestId });
        metrics.countError("rate_limited");
      }
      response = refused ?? (await handle(request, server));
    } catch (error) {
      // The last resort: the app answers its own errors (error-answers.ts), so this is a bug in
      // the app, Elysia or the gate. Answered here, not by Bun, whose 500 is plain text without
      // caas's headers and logs the stack trace, per request.
      const requestId = requestIdOf(request.headers);
      let fields = {};
      try {
        fields = about(request);
      } catch {
        // What the line says about the request is lost, not the answer.
      }
      response = internalError(log, requestId, error, fields);
      metrics.countError("internal");
      response.headers.set(REQUEST_ID_HEADER, requestId);
    }
    metrics.inFlight -= 1;
    const status = response.status;
    const seconds = (performance.now() - started) / 1000;
    const route = metrics.routeIndexOf(pathOf(request.url));
    metrics.observe(route, status, seconds);
    // The gate's refusals and a body key's (Admissions.chargeToKey, answered by the app) alike.
    if (status === 429) metrics.rateLimited += 1;
    if (accessLog) {
      const id = response.headers.get(REQUEST_ID_HEADER) ?? undefined;
      log.debug("request", {
        id,
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
