/**
 * createApp(config, deps) builds the whole HTTP surface as one Elysia instance, with no listener,
 * so tests drive it through app.handle() and the server layer decides how to listen.
 */
import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import type { CredentialsHolder } from "./credentials/holder.ts";
import { Audit, AuditTrail, auditPlugin, RequestAudit } from "./http/audit.ts";
import { type ErrorAnswered, errorAnswer, internalError } from "./http/error-answers.ts";
import { REQUEST_ID_HEADER, SECURITY_HEADERS } from "./http/headers.ts";
import { answeredRequestIdOf, clientRequestIdOf, requestIdOf, traceIdOf } from "./http/request-ids.ts";
import { BodyBudget } from "./http/body-budget.ts";
import { jsonBodyParser } from "./http/json-body.ts";
import { Metrics } from "./http/metrics.ts";
import type { Admissions } from "./http/rate-limit.ts";
import { Callers } from "./http/caller.ts";
import { InvalidTarget, KeyVersionRetired, KeyVersionUnknown } from "./errors.ts";
import { targetProblem } from "./http/paths.ts";
import { RouteTable } from "./http/routes.ts";
import { type Logger, loggerThatNeverThrows } from "./log.ts";
import { docsRoutes } from "./modules/ops/docs.ts";
import { healthRoutes, operationsRoutes } from "./modules/ops/index.ts";
import { oracleRoutes } from "./modules/oracle/index.ts";
import { pseudonymRoutes } from "./modules/pseudonym/index.ts";
import { jwksRoutes, keyringRoutes } from "./modules/keyring/index.ts";

export interface AppDeps {
  readonly logger: Logger;
  readonly credentials: CredentialsHolder;
  /** Shared with the server's instrumentation; a fresh one when absent (tests). */
  readonly metrics?: Metrics;
  /** Readiness as the server sees it (draining, credentials); always ready when absent. */
  readonly isReady?: () => boolean;
  /** The audit trail (CAAS_AUDIT_LOG); one that writes nothing when absent. */
  readonly auditTrail?: AuditTrail;
  /** The trail with its routes, when the server audits requests it answers before routing too (listener.ts); else made here. */
  readonly audit?: Audit;
  /** The client's address as the listener saw it, for the audit line; absent under app.handle(). */
  readonly clientAddress?: (request: Request) => string | undefined;
  /** Each request's caller, resolved once (shared with the server's rate-limit gate); the app's own when absent. */
  readonly callers?: Callers;
  /** The rate-limit gate's charges, which a key found only in a body moves to that key; absent without a gate. */
  readonly admissions?: Admissions;
}

/**
 * Refusals and failures an operator wants to see without the debug access log: for auth (401,
 * 403), for limits (413: a body or batch too large; 429), and every 5xx (503 busy included).
 */
function isNoteworthy(status: number): boolean {
  return status >= 500 || status === 401 || status === 403 || status === 413 || status === 429;
}

/** The trail as an app uses it: each request's authenticated key and key uses counted in the metrics, each line naming the client's address. */
export function appAudit(trail: AuditTrail, metrics: Metrics, clientAddress?: (request: Request) => string | undefined): Audit {
  return new Audit(trail, {
    subscribers: { onCaller: (apiKeyName) => metrics.countApiKeyRequest(apiKeyName), onKeyUse: metrics.keyUse },
    ...(clientAddress === undefined ? {} : { clientAddress }),
  });
}

export function createApp(config: Config, deps: AppDeps) {
  // Read from the app once it is built, below; by route, so "/keyring/orders/encrypt" finds the methods of "/keyring/:name/encrypt".
  let routes: RouteTable | undefined;
  const allowedMethods = (path: string) => routes?.match(path)?.methods;
  const metrics = deps.metrics ?? new Metrics();
  // One budget for every body this process reads, whatever route reads it.
  const budget = new BodyBudget(config.maxBodyInFlight);
  metrics.bodyBudget = budget;
  const parseJson = jsonBodyParser(config.maxBody, { budget });
  // The Django original's routes read JSON whatever the Content-Type says, as it did.
  const parseDjangoJson = jsonBodyParser(config.maxBody, { budget, mediaTypes: "any" });
  const audit = deps.audit ?? appAudit(deps.auditTrail ?? new AuditTrail(), metrics, deps.clientAddress);
  const trail = audit.trail;
  const audited = auditPlugin(audit);
  // onError logs while answering: a logger that throws there would make a 401 a 500.
  const logger = loggerThatNeverThrows(deps.logger);
  const isReady = deps.isReady ?? (() => true);
  const callers = deps.callers ?? new Callers();

  const app = new Elysia({ name: "caas", normalize: false })
    .headers({ ...SECURITY_HEADERS })
    // The answer's request id (the client's when it is a safe token, else caas's own), put into the headers
    // Elysia builds each answer with, errors included: adding a header to a finished Response
    // costs about 6 µs under load (bench/load.ts).
    .onRequest(({ request, set }) => {
      set.headers[REQUEST_ID_HEADER] = answeredRequestIdOf(request);
      // Before routing, so no handler, and no 404 or 405, is chosen for a target caas refuses.
      const problem = targetProblem(request.url);
      if (problem !== undefined) throw new InvalidTarget(problem);
    })
    .onError(async (context) => {
      const { code, error, request, route } = context;
      const requestId = requestIdOf(request);
      // The audit plugin's derive has not run for a body that could not be parsed.
      const facts = "audit" in context && context.audit instanceof RequestAudit ? context.audit : undefined;
      // A version this instance lacks, or has retired: the line says which, for the operator to find it.
      if ((error instanceof KeyVersionUnknown || error instanceof KeyVersionRetired) && error.version !== undefined)
        facts?.note({ keyVersion: error.version });
      const about = {
        route,
        clientRequestId: clientRequestIdOf(request.headers),
        traceId: traceIdOf(request.headers),
        apiKeyName: facts?.apiKeyName,
      };
      const chosen = errorAnswer({ code, error, request }, { allowedMethods, logger, requestId, about });
      let answered: ErrorAnswered;
      try {
        answered = await audit.settleError({ request, route, facts, body: "body" in context ? context.body : undefined }, chosen);
      } catch (failure) {
        // A bug in the trail itself (a write that failed is settleError's 503): thrown from here,
        // it would reach Bun, whose 500 is plain text without caas's headers. A bug already
        // answered keeps the one line it has.
        answered = chosen.code === "internal" ? chosen : { response: internalError(logger, requestId, failure, about), code: "internal" };
      }
      const status = answered.response.status;
      metrics.countError(answered.code);
      // A bug's 500 has its own line already (internal_error, with the same fields).
      if (isNoteworthy(status) && answered.code !== "internal") {
        logger.info(status >= 500 ? "request_failed" : "request_refused", { ...about, status, code: answered.code, requestId });
      }
      return answered.response;
    })
    .use(audited)
    .use(healthRoutes())
    .use(operationsRoutes({ isReady: () => isReady() && trail.ready() }))
    .use(docsRoutes())
    .use(
      oracleRoutes(parseJson, {
        batchMax: config.batchMax,
        requireKey: config.oracleRequireKey,
        credentials: deps.credentials,
        audit: audited,
        callers,
      }),
    )
    .use(
      pseudonymRoutes(parseDjangoJson, {
        ...deps,
        callers,
        batchMax: config.batchMax,
        cacheUsers: config.pseudonymCacheUsers,
        audit: audited,
      }),
    )
    .use(
      keyringRoutes(parseJson, {
        credentials: deps.credentials,
        batchMax: config.batchMax,
        audit: audited,
        callers,
      }),
    )
    .use(jwksRoutes(deps.credentials));

  routes = new RouteTable(app.routes);
  metrics.registerRoutes(routes);
  audit.useRoutes(routes);
  tables.set(app, routes);
  return app;
}

const tables = new WeakMap<object, RouteTable>();

/** The route table an app was built with: what the listener routes by target and exempts as probes. */
export function routesOf(app: CaasApp): RouteTable {
  const table = tables.get(app);
  if (table === undefined) throw new Error("routesOf: an app createApp did not build");
  return table;
}

export type CaasApp = ReturnType<typeof createApp>;
