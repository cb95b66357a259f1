/**
 * createApp(config, deps) builds the whole HTTP surface as one Elysia instance, with no listener,
 * so tests drive it through app.handle() and the server layer decides how to listen.
 */
import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import type { CredentialsHolder } from "./credentials.ts";
import { errorToResponse } from "./http/error-answers.ts";
import { SECURITY_HEADERS } from "./http/headers.ts";
import { jsonBodyParser } from "./http/json-body.ts";
import type { Logger } from "./log.ts";
import { healthRoutes } from "./modules/ops/index.ts";
import { oracleRoutes } from "./modules/oracle/index.ts";

export interface AppDeps {
  readonly logger: Logger;
  readonly credentials: CredentialsHolder;
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

export function createApp(config: Config, deps: AppDeps) {
  const methodsByPath = new Map<string, string[]>();
  const allowedMethods = (path: string) => methodsByPath.get(withoutTrailingSlash(path));
  const parseJson = jsonBodyParser(config.maxBody);

  const app = new Elysia({ name: "caas", normalize: false })
    .headers({ ...SECURITY_HEADERS })
    .onError(({ code, error, request }) => errorToResponse(code, error, request, allowedMethods, deps.logger))
    .use(healthRoutes())
    .use(oracleRoutes(parseJson));

  for (const route of app.routes) {
    const path = withoutTrailingSlash(route.path);
    const methods = methodsByPath.get(path) ?? [];
    if (!methods.includes(route.method)) methods.push(route.method);
    methodsByPath.set(path, methods);
  }
  return app;
}

export type CaasApp = ReturnType<typeof createApp>;
