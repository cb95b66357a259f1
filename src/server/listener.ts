/**
 * The listening side: TLS material, one Bun.serve listener, and the process's signals.
 * SIGTERM/SIGINT answer for a short grace with "Connection: close", drain in-flight requests
 * and exit 0. SIGHUP re-reads credentials and the TLS certificate; because server.reload({ tls }) keeps the old certificate (oven-sh/bun#43815),
 * a new listener is bound beside the old one on the same port (SO_REUSEPORT) and the old one
 * is drained, so no connection attempt is refused during the swap.
 */
import { readFile } from "node:fs/promises";
import type { Server } from "bun";
import { type AppDeps, appAudit, createApp, type CaasApp, routesOf } from "../app.ts";
import { Callers } from "../http/caller.ts";
import type { Config } from "../config.ts";
import { ConfigError, opsAddress } from "../config.ts";
import { isDevelopment, publishDevCertificate } from "../credentials/development.ts";
import { CredentialsHolder, credentialsFrom, readCredentialSources, versionSummary } from "../credentials/holder.ts";
import { type CredentialSources, fingerprintOf, pathsOf } from "../credentials/sources.ts";
import { watchForChanges } from "../files/change-watch.ts";
import { AppendFailed, openAppender } from "../files/append-file.ts";
import { AuditTrail } from "../http/audit.ts";
import { clientAddressBehind } from "../http/client-address.ts";
import { answerOutsideApp, instrument, type FetchHandler } from "./instrument.ts";
import { rewrittenTargetAnswer, targetRoutes, type TargetRoutes } from "./target-routes.ts";
import { Admissions, RateLimiter, rateLimitGate } from "../http/rate-limit.ts";
import type { Logger } from "../log.ts";
import { Metrics } from "../http/metrics.ts";
import { answerScrapes } from "./group-metrics.ts";
import { opsUrl, startOpsListener } from "./ops-listener.ts";
import { renderExposition } from "../http/exposition.ts";
import { certificateExpiry, checkTlsMaterial, tlsReason, type TlsMaterial, type TlsSources } from "./tls/material.ts";
import { tlsPolicy } from "./tls/policy.ts";

export type { TlsMaterial } from "./tls/material.ts";

async function readPem(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? String(error.code) : "unreadable";
    throw new ConfigError(`${setting}: cannot read '${path}' (${reason})`);
  }
}

/**
 * Reads the configured certificate, key and client CA (or makes an ad-hoc certificate) and checks
 * them as the listener will use them (tls/material.ts): a mismatched pair, an expired
 * certificate or a client CA without certificates is a ConfigError, not a TLS error at listen.
 */
export async function loadTlsMaterial(config: Config, logger: Logger): Promise<TlsMaterial> {
  const clientCa = config.tlsClientCa === undefined ? undefined : await readPem(config.tlsClientCa, "CAAS_TLS_CLIENT_CA");
  const clientCaSource = config.tlsClientCa === undefined ? {} : { clientCa: { setting: "CAAS_TLS_CLIENT_CA", path: config.tlsClientCa } };
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    const cert = await readPem(config.tlsCert, "CAAS_TLS_CERT");
    const key = await readPem(config.tlsKey, "CAAS_TLS_KEY");
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`CAAS_TLS_CERT: '${config.tlsCert}' holds no PEM certificate`);
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-{5}/.test(key)) throw new ConfigError(`CAAS_TLS_KEY: '${config.tlsKey}' holds no PEM private key`);
    const material: TlsMaterial = { cert, key, ...(clientCa === undefined ? {} : { clientCa }) };
    const sources: TlsSources = {
      cert: { setting: "CAAS_TLS_CERT", path: config.tlsCert },
      key: { setting: "CAAS_TLS_KEY", path: config.tlsKey },
      ...clientCaSource,
    };
    for (const warning of checkTlsMaterial(material, sources)) {
      logger.warn(warning.event, {
        message: warning.message,
        path: config.tlsCert,
        notAfter: warning.notAfter,
        daysLeft: warning.daysLeft,
      });
    }
    return material;
  }
  // Loaded only when needed: the X.509 library is the largest part of start-up otherwise.
  const { createAdhocCertificate } = await import("./tls/adhoc.ts");
  const adhoc = await createAdhocCertificate();
  const material: TlsMaterial = { cert: adhoc.cert, key: adhoc.key, ...(clientCa === undefined ? {} : { clientCa }) };
  checkTlsMaterial(material, clientCaSource);
  logger.warn("adhoc_certificate", {
    sha256: adhoc.sha256Fingerprint,
    hint: "self-signed, in memory, for development only; set CAAS_TLS_CERT and CAAS_TLS_KEY",
  });
  return material;
}

/**
 * In development, the ad-hoc certificate's public half goes to the state directory, so a client
 * can trust it (curl --cacert) instead of turning verification off. Done once per start, by the
 * process that made the certificate.
 */
export async function publishAdhocCertificate(config: Config, tls: TlsMaterial, logger: Logger): Promise<void> {
  if (!isDevelopment(config)) return;
  const path = await publishDevCertificate(config.stateDir, tls.cert);
  logger.info("dev_certificate", { path, hint: "trust it for development: curl --cacert <path>" });
}

/**
 * Fails loudly when something already listens on the port. Our own listeners use SO_REUSEPORT
 * (for certificate swaps and workers), which would otherwise let a second caas bind silently;
 * a probe bound without it is refused by any existing listener, ours included.
 */
export function assertPortFree(host: string, port: number): void {
  let probe: { stop(closeActiveConnections?: boolean): void } | undefined;
  try {
    probe = Bun.listen({ hostname: host, port, exclusive: true, socket: { data() {} } });
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? String(error.code) : "unavailable";
    throw new ConfigError(`CAAS_PORT: cannot listen on ${host}:${port} (${reason === "EADDRINUSE" ? "address already in use" : reason})`);
  } finally {
    probe?.stop(true);
  }
}

/**
 * Seconds a connection may sit idle, and, as Bun 1.4.5 applies it, the most a request's body may
 * take to arrive (body bytes do not restart the timer): a slow body is cut off, not waited on.
 * Headers have their own fixed limit in Bun of about 10 s and 16 KiB (431 beyond; the request
 * line counts, so this bounds the URL too). tests/e2e/limits.e2e.test.ts holds all three.
 */
export const IDLE_TIMEOUT_SECONDS = 10;

/**
 * Bun.serve throws OpenSSL's errors (and, for a bad CA, "Failed to create HTTP server") as they
 * are; uncaught, Bun prints them with a page of source. loadTlsMaterial checks for all it knows,
 * and whatever still fails here is reported like any other configuration mistake.
 */
function listenOrConfigError(open: () => Server<undefined>, config: Config, port: number): Server<undefined> {
  try {
    return open();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = error instanceof Error && "code" in error ? String(error.code) : "";
    if (code.startsWith("E") && !code.startsWith("ERR_"))
      throw new ConfigError(`CAAS_PORT: cannot listen on ${config.host}:${port} (${code})`);
    throw new ConfigError(
      `CAAS_TLS_CERT, CAAS_TLS_KEY, CAAS_TLS_CLIENT_CA: cannot listen on ${config.host}:${port} with this TLS material (${tlsReason(error)})`,
    );
  }
}

/**
 * Bun.serve (1.4.5) has no cap on open connections (its options are listed in bun-types'
 * serve.d.ts: no maxConnections or backlog), so none is set here. What bounds them is the file
 * limit (LimitNOFILE= in deploy/caas.service), about 10 KiB each without a body (bench/held-bodies.ts),
 * and the body budget (CAAS_MAX_BODY_IN_FLIGHT) for what they send; a front proxy can cap them.
 */
function listen(served: TargetRoutes, config: Config, tls: TlsMaterial, port: number): Server<undefined> {
  return Bun.serve({
    hostname: config.host,
    port,
    // Never Bun's development mode: it answers an uncaught error with an HTML page and its stack
    // trace, and does extra work per request. Set here because Bun's default follows NODE_ENV.
    development: false,
    reusePort: true,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    // The body limit is enforced by our reader, which answers in JSON and never buffers past the
    // limit; Bun's own limit would answer an empty 413 first, so it is lifted out of the way.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    tls: {
      cert: tls.cert,
      key: tls.key,
      // TLS 1.2+ (1.3 only when configured) with forward-secret AEAD suites: tls/policy.ts.
      ...tlsPolicy(config.tlsMinVersion),
      // Mutual TLS: the handshake itself refuses a client without a certificate this CA signed.
      ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    // Routes by the target as sent, then fetch for the rest: target-routes.ts.
    routes: served.routes,
    fetch: served.fetch,
  });
}

/**
 * Whether Linux hands the connections waiting in a closing listener's accept queue to another
 * listener on the same port (net.ipv4.tcp_migrate_req, 5.14+) instead of resetting them.
 * Undefined where the setting cannot be read.
 */
async function acceptQueueMigration(): Promise<boolean | undefined> {
  try {
    return (await readFile("/proc/sys/net/ipv4/tcp_migrate_req", "utf8")).trim() !== "0";
  } catch {
    return undefined;
  }
}

/** How long a listener replaced on SIGHUP, or stopped on SIGTERM, keeps answering (with "Connection: close") before it stops. */
export const RETIRE_GRACE_MS = 1_000;

async function closeAfter(answer: Response | Promise<Response>): Promise<Response> {
  const response = await answer;
  response.headers.set("connection", "close");
  return response;
}

/**
 * What a process serves from, loaded and checked together: the TLS material and the text of
 * every credential file. A reload builds everything from one of these before it changes
 * anything, so it applies all of it or none; a supervisor hands the same one to every worker.
 */
export interface Handoff {
  readonly tls: TlsMaterial;
  readonly sources: CredentialSources;
}

/** Reads every file a reload applies. `previous` keeps an ad-hoc certificate: a new one would only break clients that pinned it. */
export async function loadHandoff(config: Config, logger: Logger, previous?: Handoff): Promise<Handoff> {
  const sources = await readCredentialSources(config, logger);
  const tls = previous !== undefined && config.tlsCert === undefined ? previous.tls : await loadTlsMaterial(config, logger);
  return { tls, sources };
}

/** The TLS material as the credentials fingerprint counts it. */
export function tlsParts(tls: TlsMaterial): readonly string[] {
  return [tls.cert, tls.key, tls.clientCa ?? ""];
}

export function handoffFingerprint(handoff: Handoff): string {
  return fingerprintOf(handoff.sources, tlsParts(handoff.tls));
}

/** Every file a handoff was read from: what the change watch polls. */
export function watchedPaths(config: Config, handoff: Handoff): readonly string[] {
  const tlsFiles = [config.tlsCert, config.tlsKey, config.tlsClientCa].filter((path): path is string => path !== undefined);
  return [...pathsOf(handoff.sources), ...tlsFiles];
}

export interface RunningServer {
  readonly port: number;
  /** The URL it listens on, for the "listening" line its caller logs once signals are handled. */
  readonly url: string;
  /** The ops listener's URL (CAAS_OPS_LISTEN), for the same line; none when it is off or the supervisor serves it. */
  readonly opsUrl: string | undefined;
  /** Retires the listener (see retire: a "Connection: close" grace, then the drain) and resolves once it has stopped. */
  shutdown(reason: string): Promise<void>;
  /** Reads every file again and applies all of it or none (standalone); a worker takes its supervisor's instead. */
  reload(): Promise<void>;
  /** Applies what the supervisor loaded (a worker), all of it or none. */
  apply(handoff: Handoff): Promise<void>;
}

/**
 * A standalone process checks its port, reads its own files and reloads them; a worker shares
 * the port its supervisor checked and serves what the supervisor hands it, never files it read itself.
 */
export type StartOptions = { readonly role: "standalone" } | { readonly role: "worker"; readonly handoff: Handoff };

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

export async function startServer(config: Config, logger: Logger, options: StartOptions = { role: "standalone" }): Promise<RunningServer> {
  // First, so a second instance fails at once, before it makes certificates or secrets.
  if (options.role === "standalone") assertPortFree(config.host, config.port);
  let current = options.role === "worker" ? options.handoff : await loadHandoff(config, logger);
  if (options.role === "standalone") await publishAdhocCertificate(config, current.tls, logger);
  const credentials = new CredentialsHolder(credentialsFrom(current.sources, logger, tlsParts(current.tls)));
  const metrics = new Metrics();
  metrics.tlsCertificateExpiry = certificateExpiry(current.tls.cert);
  metrics.credentialsFingerprint = handoffFingerprint(current);
  metrics.versionsNow = () => versionSummary(credentials.current);
  let shuttingDown = false;
  const auditTrail = openAuditTrail(config, logger);
  if (auditTrail.enabled) metrics.auditTrail = auditTrail;
  // The listeners that may hold a request: the current one, and one being retired after a SIGHUP.
  // Asked in turn for a request's address (a WeakMap from request to listener cost ~3 µs a request).
  const listeners = new Set<Server<undefined>>();
  const clientAddress = (request: Request): string | undefined => {
    for (const listener of listeners) {
      const address = listener.requestIP(request)?.address;
      if (address !== undefined) return address;
    }
    return undefined;
  };
  const { app, handle, refuse } = gatedApp(config, {
    logger,
    credentials,
    metrics,
    isReady: () => !shuttingDown,
    auditTrail,
    clientAddress,
  });
  const paths = routesOf(app).paths;
  const served = targetRoutes(paths, handle, refuse);
  let server = listenOrConfigError(() => listen(served, config, current.tls, config.port), config, config.port);
  listeners.add(server);
  const port = server.port ?? config.port;
  // Readiness as the API port's /readyz answers it: not draining, and the audit trail writable.
  const isReady = () => !shuttingDown && auditTrail.ready();
  let ops: string | undefined;
  if (options.role === "worker") {
    answerScrapes(() => metrics.snapshot(), isReady);
  } else {
    const address = opsAddress(config.opsListen);
    if (address !== undefined)
      ops = opsUrl(startOpsListener(address, { metricsPage: () => renderExposition(metrics.snapshot()), isReady }), address);
  }

  const drain = async (old: Server<undefined>): Promise<void> => {
    const deadline = setTimeout(() => void old.stop(true), config.drainTimeoutSeconds * 1000);
    await old.stop(false);
    clearTimeout(deadline);
  };

  /**
   * Bun's stop() closes idle keep-alive connections at once, racing a client's next request on
   * them. So a listener being replaced (SIGHUP) or stopped (SIGTERM) first answers a while longer
   * with "Connection: close", which sends busy keep-alive clients to a new listener or another
   * instance, and only then stops accepting and drains.
   */
  const retire = async (old: Server<undefined>): Promise<void> => {
    const closing =
      (answer: FetchHandler): FetchHandler =>
      (request, server) =>
        closeAfter(answer(request, server));
    old.reload(targetRoutes(paths, closing(handle), closing(refuse)));
    await Bun.sleep(Math.min(RETIRE_GRACE_MS, config.drainTimeoutSeconds * 1000));
    await drain(old);
    listeners.delete(old);
  };

  let reloading: Promise<void> = Promise.resolve();
  const running: RunningServer = {
    port,
    url: `https://${config.host}:${port}`,
    opsUrl: ops,
    async shutdown(reason) {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info("draining", { reason, drainTimeoutSeconds: config.drainTimeoutSeconds, inFlight: server.pendingRequests });
      // Retired like a listener replaced on SIGHUP: keep-alive clients are told to close first, so
      // the stop does not reset their idle connections under a next request (behind a load
      // balancer they reconnect to another instance; /readyz already says 503). A reload under
      // way finishes retiring its old listener within the same bounds.
      await Promise.all([retire(server), reloading]);
      logger.info("stopped", { reason });
    },
    reload() {
      reloading = reloading.then(async () => {
        if (shuttingDown) return;
        // First, and whatever else fails: after a rotation (rename, then SIGHUP) new lines go to a new file at the path.
        auditTrail.reopen();
        if (options.role === "worker") {
          logger.warn("reload_ignored", { hint: "a worker serves what its supervisor loaded: send SIGHUP to the supervisor" });
          return;
        }
        let next: Handoff;
        try {
          next = await loadHandoff(config, logger, current);
        } catch (error) {
          reloadFailed(error);
          return;
        }
        await applyNow(next);
      });
      return reloading;
    },
    apply(handoff) {
      reloading = reloading.then(async () => {
        if (!shuttingDown) await applyNow(handoff);
      });
      return reloading;
    },
  };

  const reloadFailed = (error: unknown): void => {
    metrics.reloadFailures += 1;
    // A bad reload keeps the running configuration, all of it: better stale keys than no service.
    logger.error("reload_failed", {
      reason: error instanceof Error ? error.message : "unknown",
      applied: "nothing",
      fingerprint: handoffFingerprint(current),
    });
  };

  /** Builds everything from `next` (credentials, then a listener with its certificate) before it changes anything. */
  const applyNow = async (next: Handoff): Promise<void> => {
    let listener: Server<undefined>;
    let built: ReturnType<typeof credentialsFrom>;
    try {
      built = credentialsFrom(next.sources, logger, tlsParts(next.tls));
      listener = listenOrConfigError(() => listen(served, config, next.tls, port), config, port);
    } catch (error) {
      reloadFailed(error);
      return;
    }
    credentials.replace(built);
    current = next;
    metrics.tlsCertificateExpiry = certificateExpiry(next.tls.cert);
    metrics.credentialsFingerprint = handoffFingerprint(next);
    const old = server;
    server = listener;
    listeners.add(listener);
    await retire(old);
    metrics.reloads += 1;
    logger.info("reloaded", { port, applied: "credentials,tls", fingerprint: handoffFingerprint(next) });
    if ((await acceptQueueMigration()) === false) {
      logger.warn("reload_may_reset_connections", {
        hint: "connections still waiting in the old listener's accept queue were reset, if there were any; set net.ipv4.tcp_migrate_req=1 (deploy/60-caas.conf) to hand them to the new one",
      });
    }
  };

  if (options.role === "standalone" && config.reloadOnChange) {
    const watch = await watchForChanges(watchedPaths(config, current), (changed) => {
      logger.info("reload_requested", { reason: "files_changed", files: changed.join(",") });
      // The baseline first: a change made while the reload reads the files is seen again.
      void watch.rebase().then(() => running.reload());
    });
  }
  return running;
}

export function handleSignals(running: RunningServer, logger: Logger): void {
  const stop = (signal: string) => {
    void running.shutdown(signal).then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    logger.info("reload_requested", { signal: "SIGHUP" });
    void running.reload();
  });
}
