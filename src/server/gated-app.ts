/** The app as the API listener serves it: behind the rate limit, instrumented, audited. */
import { type AppDeps, appAudit, createApp, type CaasApp, routesOf } from "../app.ts";
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import { AppendFailed, openAppender } from "../files/append-file.ts";
import { AuditTrail } from "../http/audit.ts";
import { Callers } from "../http/caller.ts";
import { clientAddressBehind } from "../http/client-address.ts";
import type { Metrics } from "../http/metrics.ts";
import { Admissions, RateLimiter, rateLimitGate } from "../http/rate-limit.ts";
import type { Logger } from "../log.ts";
import { answerOutsideApp, type FetchHandler, instrument } from "./instrument.ts";
import { rewrittenTargetAnswer } from "./target-routes.ts";

/** The audit trail CAAS_AUDIT_LOG names, opened (and created, mode 0600) now, or one that writes nothing. */
export function openAuditTrail(config: Config, logger: Logger): AuditTrail {
  if (config.auditLog === undefined) return new AuditTrail();
  try {
    return new AuditTrail(openAppender(config.auditLog), { logger });
  } catch (error) {
    const errno = error instanceof AppendFailed ? error.errno : "unknown";
    throw new ConfigError(`CAAS_AUDIT_LOG: cannot open '${config.auditLog}' for appending (${errno})`);
  }
}

/**
 * The app behind the per-client rate limit and the instrumentation: what the API listener serves
 * on every routed path, and `refuse`, what it answers a target Bun rewrote into one of caas's
 * paths. The gate resolves a request's caller before routing, and the app's routes take that
 * answer from the callers they share (caller.ts), so a key is hashed once a request. Probes are never
 * limited (see src/http/rate-limit.ts). What is answered before routing is audited like the rest.
 */
export function gatedApp(
  config: Config,
  deps: Omit<AppDeps, "admissions" | "callers" | "metrics" | "audit"> & { readonly metrics: Metrics },
): { readonly app: CaasApp; readonly handle: FetchHandler; readonly refuse: FetchHandler } {
  const { credentials, logger, metrics } = deps;
  const admissions = new Admissions(new RateLimiter({ rate: config.rateLimit }));
  const callers = new Callers();
  // One client address for the audit line and the rate limit: X-Forwarded-For from CAAS_TRUSTED_PROXIES only.
  const clientAddress = deps.clientAddress && clientAddressBehind(config.trustedProxies, deps.clientAddress);
  const audit = appAudit(deps.auditTrail ?? new AuditTrail(), metrics, clientAddress);
  // Without a limit there is no gate, and nothing for the app to ask of the admissions.
  const app: CaasApp = createApp(config, {
    ...deps,
    clientAddress,
    audit,
    callers,
    admissions: admissions.limiter.enabled ? admissions : undefined,
  });
  const gate = rateLimitGate(admissions, {
    apiKeys: () => credentials.current.apiKeys,
    callers,
    probePaths: routesOf(app).probePaths,
    clientAddress,
  });
  // For the log and audit lines of what is answered here (the gate's 429s, a last-resort 500): the caller as resolved.
  const keyNameOf = (request: Request) => callers.inHeaders(request, credentials.current.apiKeys).record?.name;
  const outside = { metrics, logger, audit, keyNameOf };
  const handle = instrument(app.fetch, { ...outside, gate });
  const rewrittenTarget = (request: Request) =>
    answerOutsideApp(request, { response: rewrittenTargetAnswer(), code: "invalid_target" }, outside);
  return { app, handle, refuse: instrument(rewrittenTarget, { metrics, logger }) };
}
