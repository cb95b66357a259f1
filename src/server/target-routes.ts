/**
 * Bun resolves dot segments before a handler sees request.url ("/oracleinvocation/../metrics"
 * arrives as ".../metrics"), while its router matches the target as the client sent it. So each
 * of caas's paths is a Bun route of its own, reached only by that exact target; every other
 * target that starts with "/" reaches the "/*" route, and one of those whose URL still names a
 * caas path was rewritten by Bun on the way: it is refused, not served. The rest (dot segments
 * without a usable Host, where Bun leaves the target as sent, fragments, unknown paths) is the
 * app's to answer (targetProblem in paths.ts, then its 404).
 */
import type { FetchHandler } from "./instrument.ts";
import { answerFor } from "../http/error-answers.ts";
import { InvalidTarget } from "../errors.ts";
import { pathMatchesRoute, pathOf } from "../http/paths.ts";
import type { RouteTable } from "../http/routes.ts";

export interface TargetRoutes {
  readonly routes: Record<string, FetchHandler>;
  readonly fetch: FetchHandler;
}

/** The answer to a target Bun rewrote into one of caas's paths (its request id and audit line are added by answerOutsideApp). */
export function rewrittenTargetAnswer(): Response {
  return answerFor(new InvalidTarget("dot_segment"));
}

/**
 * Bun.serve's routes and fetch for the table's paths (each also with a trailing slash): `handle`
 * answers every request except those `refuse` answers (built from rewrittenTargetAnswer, so it is
 * counted and logged like any other).
 */
export function targetRoutes(table: RouteTable, handle: FetchHandler, refuse: FetchHandler): TargetRoutes {
  const routes: Record<string, FetchHandler> = {};
  for (const path of table.paths.flatMap((bare) => [bare, `${bare}/`])) {
    // A ":name" segment also matches "." or ".." as sent ("/keyring/../encrypt"), which Bun then
    // resolves in request.url: served only when the URL is still this route.
    routes[path] = path.includes("/:")
      ? (request, server) => (pathMatchesRoute(path, pathOf(request.url)) ? handle(request, server) : refuse(request, server))
      : handle;
  }
  routes["/*"] = (request, server) => (table.match(pathOf(request.url)) !== undefined ? refuse(request, server) : handle(request, server));
  // Targets that do not start with "/" (CONNECT's host:port): the app refuses them.
  return { routes, fetch: handle };
}
