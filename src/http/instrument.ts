/**
 * Wraps the app's fetch with what every request gets before and after routing: a request id
 * (answered in X-Request-Id, see requestIdOf, and used in any log line about the request), the in-flight gauge,
 * and the route/status/latency metrics. Kept outside Elysia so it costs no lifecycle hooks.
 */
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import type { Metrics } from "../modules/ops/metrics.ts";
import type { Gate } from "./rate-limit.ts";

const requestIds = new WeakMap<Request, string>();

/** The id of a request being handled, for log lines written deeper down. */
export function requestIdOf(request: Request): string | undefined {
  return requestIds.get(request);
}

/** The path of an absolute URL, without its query: read once, sliced once, no array per request. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

export type FetchHandler = (request: Request, server?: Server<undefined>) => Response | Promise<Response>;

/** `gate` (the rate limit) may answer a request before it is routed; its answers are counted like any other. */
export function instrument(handle: FetchHandler, metrics: Metrics, logger: Logger, gate?: Gate): FetchHandler {
  const accessLog = logger.enabled("debug");
  return async (request, server) => {
    const started = performance.now();
    const id = crypto.randomUUID();
    requestIds.set(request, id);
    metrics.inFlight += 1;
    let status = 500;
    try {
      const refused = gate?.(request, server);
      // The app puts the id in its answers' headers as it builds them (app.ts): setting a header
      // on a finished Response costs about 6 µs per request under load (bench/load.ts).
      if (refused !== undefined) refused.headers.set("x-request-id", id);
      const response = refused ?? (await handle(request));
      status = response.status;
      return response;
    } finally {
      metrics.inFlight -= 1;
      const seconds = (performance.now() - started) / 1000;
      const route = metrics.routeOf(pathOf(request.url));
      metrics.observe(route, status, seconds);
      if (status === 429) metrics.rateLimited += 1;
      if (accessLog) logger.debug("request", { id, method: request.method, route, status, ms: Math.round(seconds * 100_000) / 100 });
    }
  };
}
