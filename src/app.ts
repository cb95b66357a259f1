/**
 * createApp(config, deps) builds the whole HTTP surface as one Elysia instance, with no listener,
 * so tests drive it through app.handle() and the server layer decides how to listen.
 */
import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import type { CredentialsHolder } from "./credentials/holder.ts";
import { errorToResponse } from "./http/error-answers.ts";
import { REQUEST_ID_HEADER, SECURITY_HEADERS } from "./http/headers.ts";
import { BodyBudget } from "./http/body-budget.ts";
import { jsonBodyParser } from "./http/json-body.ts";
import { InvalidTarget } from "./errors.ts";
import { RouteMatcher, targetProblem, withoutTrailingSlash } from "./http/paths.ts";
import type { Logger } from "./log.ts";
import { docsRoutes } from "./modules/ops/docs.ts";
import { healthRoutes, operationsRoutes } from "./modules/ops/index.ts";
import { Metrics } from "./modules/ops/metrics.ts";
import { oracleRoutes } from "./modules/oracle/index.ts";
import { pseudonymRoutes } from "./modules/pseudonym/index.ts";
import { keyringRoutes } from "./modules/keyring/index.ts";

export interface AppDeps {
  readonly logger: Logger;
  readonly credentials: CredentialsHolder;
  /** Shared with the server's instrumentation; a fresh one when absent (tests). */
  readonly metrics?: Metrics;
  /** Readiness as the server sees it (draining, credentials); always ready when absent. */
  readonly isReady?: () => boolean;
}

export function createApp(config: Config, deps: AppDeps) {
  const methodsByPath = new Map<string, string[]>();
  // By route, so "/keyring/orders/encrypt" finds the methods of "/keyring/:name/encrypt".
  const methodsByRoute = new RouteMatcher<string[]>();
  const allowedMethods = (path: string) => methodsByRoute.match(path);
  const metrics = deps.metrics ?? new Metrics();
  // One budget for every body this process reads, whatever route reads it.
  const budget = new BodyBudget(config.maxBodyInFlight);
  metrics.bodyBudget = budget;
  const parseJson = jsonBodyParser(config.maxBody, { budget });
  // The Django original's routes also read JSON sent as a form or plain text, or undeclared, as it did.
  const parseDjangoJson = jsonBodyParser(config.maxBody, { budget, acceptUndeclaredJson: true });

  const app = new Elysia({ name: "caas", normalize: false })
    .headers({ ...SECURITY_HEADERS })
    // A request id per request, put into the headers Elysia builds each answer with, errors
    // included: adding a header to a finished Response costs about 6 µs under load (bench/load.ts).
    .onRequest(({ request, set }) => {
      set.headers[REQUEST_ID_HEADER] = crypto.randomUUID();
      // Before routing, so no handler, and no 404 or 405, is chosen for a target caas refuses.
      const problem = targetProblem(request.url);
      if (problem !== undefined) throw new InvalidTarget(problem);
    })
    .onError(({ code, error, request, set }) => errorToResponse(code, error, request, allowedMethods, deps.logger, set.headers[REQUEST_ID_HEADER]))
    .use(healthRoutes())
    .use(operationsRoutes({ metrics, isReady: deps.isReady ?? (() => true) }))
    .use(docsRoutes())
    .use(oracleRoutes(parseJson, { batchMax: config.batchMax, requireKey: config.oracleRequireKey, credentials: deps.credentials }))
    .use(pseudonymRoutes(parseDjangoJson, { ...deps, batchMax: config.batchMax }))
    .use(keyringRoutes(parseJson, { credentials: deps.credentials, batchMax: config.batchMax }));

  for (const route of app.routes) {
    const path = withoutTrailingSlash(route.path);
    const methods = methodsByPath.get(path) ?? [];
    if (!methods.includes(route.method)) methods.push(route.method);
    methodsByPath.set(path, methods);
    methodsByRoute.add(path, methods);
  }
  metrics.registerRoutes(methodsByPath.keys());
  return app;
}

export type CaasApp = ReturnType<typeof createApp>;
