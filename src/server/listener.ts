/**
 * The API listener of one process, and its life: start, reload, drain. SIGHUP re-reads
 * credentials and the TLS certificate; because server.reload({ tls }) keeps the old certificate
 * (oven-sh/bun#43815), a new listener is bound beside the old one on the same port (SO_REUSEPORT)
 * and the old one is retired, so no connection attempt is refused during the swap. The TLS files
 * are tls/files.ts, what a reload reads handoff.ts, the port bind.ts, the app gated-app.ts and
 * the signals signals.ts.
 */
import type { Server } from "bun";
import type { Config } from "../config.ts";
import { opsAddress } from "../config.ts";
import { CredentialsHolder, credentialsFrom, versionSummary } from "../credentials/holder.ts";
import { watchForChanges } from "../files/change-watch.ts";
import { renderExposition } from "../http/exposition.ts";
import { Metrics } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { acceptQueueMigration, assertPortFree, listen, listenOrConfigError } from "./bind.ts";
import { gatedApp, openAuditTrail } from "./gated-app.ts";
import { answerScrapes } from "./group-metrics.ts";
import { type Handoff, handoffFingerprint, loadHandoff, tlsParts, watchedPaths } from "./handoff.ts";
import { opsUrl, startOpsListener } from "./ops-listener.ts";
import { closingAfter, retireListener } from "./retire.ts";
import { targetRoutes } from "./target-routes.ts";
import { publishAdhocCertificate } from "./tls/files.ts";
import { certificateExpiry } from "./tls/material.ts";

export type { TlsMaterial } from "./tls/material.ts";

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
  const paths = app.routes.map((route) => route.path);
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

  const retire = async (old: Server<undefined>): Promise<void> => {
    await retireListener(old, {
      closing: targetRoutes(paths, closingAfter(handle), closingAfter(refuse)),
      drainTimeoutSeconds: config.drainTimeoutSeconds,
    });
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
