/**
 * Wraps the app's fetch with what every request gets before and after routing: a request id
 * (answered in X-Request-Id and used in any log line about the request), the in-flight gauge,
 * and the route/status/latency metrics. Kept outside Elysia so it costs no lifecycle hooks.
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../modules/ops/metrics.ts";

const requestIds = new WeakMap<Request, string>();

/** The id of a request being handled, for log lines written deeper down. */
export function requestIdOf(request: Request): string | undefined {
  return requestIds.get(request);
}

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export function instrument(handle: FetchHandler, metrics: Metrics, logger: Logger): FetchHandler {
  const accessLog = logger.enabled("debug");
  return async (request) => {
    const started = performance.now();
    const id = crypto.randomUUID();
    requestIds.set(request, id);
    metrics.inFlight += 1;
    let status = 500;
    try {
      const response = await handle(request);
      status = response.status;
      response.headers.set("x-request-id", id);
      return response;
    } finally {
      metrics.inFlight -= 1;
      const seconds = (performance.now() - started) / 1000;
      const path = request.url.slice(request.url.indexOf("/", 8)).split("?", 1)[0] ?? "/";
      const route = metrics.routeOf(path);
      metrics.observe(route, status, seconds);
      if (status === 429) metrics.rateLimited += 1;
      if (accessLog) logger.debug("request", { id, method: request.method, route, status, ms: Math.round(seconds * 100_000) / 100 });
    }
  };
}
