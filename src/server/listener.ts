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
import { opsAddress } from "../addresses.ts";
import { CredentialsHolder, credentialsFrom, versionSummary } from "../credentials/holder.ts";
import { watchForChanges } from "../files/change-watch.ts";
import type { AuditTrail } from "../http/audit.ts";
import { renderExposition } from "../http/exposition.ts";
import { Metrics } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { acceptQueueMigration, assertPortFree, listen } from "./bind.ts";
import { routesOf } from "../app.ts";
import { gatedApp, openAuditTrail } from "./gated-app.ts";
import { answerScrapes } from "./group-metrics.ts";
import { type Handoff, handoffFingerprint, loadHandoff, tlsParts, watchedPaths } from "./handoff.ts";
import { opsUrl, startOpsListener } from "./ops-listener.ts";
import { closingAfter, retireListener } from "./retire.ts";
import { type TargetRoutes, targetRoutes } from "./target-routes.ts";
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

/** What a running listener works with besides its own state; startServer builds it once. */
interface ListenerParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly role: StartOptions["role"];
  readonly credentials: CredentialsHolder;
  readonly metrics: Metrics;
  readonly auditTrail: AuditTrail;
  /**
   * The listeners that may hold a request: the current one, and one being retired after a SIGHUP.
   * Asked in turn for a request's address (a WeakMap from request to listener cost ~3 µs a request).
   */
  readonly listeners: Set<Server<undefined>>;
  /** What a listener serves, and what one being retired serves during its grace. */
  readonly served: TargetRoutes;
  readonly closing: TargetRoutes;
}

/**
 * One process's API listener over time: the handoff it serves and the Bun.serve listener serving
 * it, both replaced together by a reload, one reload or shutdown at a time.
 */
class ApiListener implements RunningServer {
  readonly port: number;
  readonly url: string;
  readonly opsUrl: string | undefined;
  readonly #parts: ListenerParts;
  #current: Handoff;
  #server: Server<undefined>;
  #stopping = false;
  /** The reload or apply under way, which the next one waits for. */
  #reloading: Promise<void> = Promise.resolve();

  constructor(parts: ListenerParts, current: Handoff, server: Server<undefined>, opsUrl: string | undefined) {
    this.#parts = parts;
    this.#current = current;
    this.#server = server;
    this.port = server.port ?? parts.config.port;
    this.url = `https://${parts.config.host}:${this.port}`;
    this.opsUrl = opsUrl;
  }

  /** Whether shutdown has begun: /readyz says 503 from then on. */
  get stopping(): boolean {
    return this.#stopping;
  }

  async shutdown(reason: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const { logger, config } = this.#parts;
    logger.info("draining", { reason, drainTimeoutSeconds: config.drainTimeoutSeconds, inFlight: this.#server.pendingRequests });
    // Retired like a listener replaced on SIGHUP: keep-alive clients are told to close first, so
    // the stop does not reset their idle connections under a next request (behind a load
    // balancer they reconnect to another instance; /readyz already says 503). A reload under
    // way finishes retiring its old listener within the same bounds.
    await Promise.all([this.#retire(this.#server), this.#reloading]);
    logger.info("stopped", { reason });
  }

  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      if (this.#stopping) return;
      const { logger, config, role, auditTrail } = this.#parts;
      // First, and whatever else fails: after a rotation (rename, then SIGHUP) new lines go to a new file at the path.
      auditTrail.reopen();
      if (role === "worker") {
        logger.warn("reload_ignored", { hint: "a worker serves what its supervisor loaded: send SIGHUP to the supervisor" });
        return;
      }
      let next: Handoff;
      try {
        next = await loadHandoff(config, logger, { previous: this.#current, listensNext: true });
      } catch (error) {
        this.#reloadFailed(error);
        return;
      }
      await this.#applyNow(next);
    });
    return this.#reloading;
  }

  apply(handoff: Handoff): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      if (!this.#stopping) await this.#applyNow(handoff);
    });
    return this.#reloading;
  }

  async #retire(old: Server<undefined>): Promise<void> {
    const { closing, config, listeners } = this.#parts;
    await retireListener(old, { closing, drainTimeoutSeconds: config.drainTimeoutSeconds });
    listeners.delete(old);
  }

  #reloadFailed(error: unknown): void {
    this.#parts.metrics.reloadFailures += 1;
    // A bad reload keeps the running configuration, all of it: better stale keys than no service.
    this.#parts.logger.error("reload_failed", {
      reason: error instanceof Error ? error.message : "unknown",
      applied: "nothing",
      fingerprint: handoffFingerprint(this.#current),
    });
  }

  /** Builds everything from `next` (credentials, then a listener with its certificate) before it changes anything. */
  async #applyNow(next: Handoff): Promise<void> {
    const { config, logger, credentials, metrics, listeners, served } = this.#parts;
    let listener: Server<undefined>;
    let built: ReturnType<typeof credentialsFrom>;
    try {
      built = credentialsFrom(next.sources, logger, tlsParts(next.tls));
      listener = listen(served, config, next.tls, this.port);
    } catch (error) {
      this.#reloadFailed(error);
      return;
    }
    credentials.replace(built);
    this.#current = next;
    metrics.tlsCertificateExpiry = certificateExpiry(next.tls.cert);
    // A hash over every credential file (up to tens of MiB): made once for the metric and the line.
    const fingerprint = handoffFingerprint(next);
    metrics.credentialsFingerprint = fingerprint;
    const old = this.#server;
    this.#server = listener;
    listeners.add(listener);
    await this.#retire(old);
    metrics.reloads += 1;
    logger.info("reloaded", { port: this.port, applied: "credentials,tls", fingerprint });
    if ((await acceptQueueMigration()) === false) {
      logger.warn("reload_may_reset_connections", {
        hint: "connections still waiting in the old listener's accept queue were reset, if there were any; set net.ipv4.tcp_migrate_req=1 (deploy/60-caas.conf) to hand them to the new one",
      });
    }
  }
}

export async function startServer(config: Config, logger: Logger, options: StartOptions = { role: "standalone" }): Promise<RunningServer> {
  const { role } = options;
  // First, so a second instance fails at once, before it makes certificates or secrets.
  if (role === "standalone") assertPortFree(config.host, config.port);
  const first = options.role === "worker" ? options.handoff : await loadHandoff(config, logger, { listensNext: true });
  if (role === "standalone") await publishAdhocCertificate(config, first.tls, logger);
  const credentials = new CredentialsHolder(credentialsFrom(first.sources, logger, tlsParts(first.tls)));
  const metrics = new Metrics();
  metrics.tlsCertificateExpiry = certificateExpiry(first.tls.cert);
  metrics.credentialsFingerprint = handoffFingerprint(first);
  metrics.versionsNow = () => versionSummary(credentials.current);
  const auditTrail = openAuditTrail(config, logger);
  if (auditTrail.enabled) metrics.auditTrail = auditTrail;
  const listeners = new Set<Server<undefined>>();
  const clientAddress = (request: Request): string | undefined => {
    for (const listener of listeners) {
      const address = listener.requestIP(request)?.address;
      if (address !== undefined) return address;
    }
    return undefined;
  };
  // Made below, once there is a listener; nothing is answered before then.
  let running: ApiListener | undefined;
  const stopping = () => running?.stopping === true;
  const { app, handle, refuse } = gatedApp(config, { logger, credentials, metrics, isReady: () => !stopping(), auditTrail, clientAddress });
  const table = routesOf(app);
  const served = targetRoutes(table, handle, refuse);
  const closing = targetRoutes(table, closingAfter(handle), closingAfter(refuse));
  const server = listen(served, config, first.tls, config.port);
  listeners.add(server);
  // Readiness as the API port's /readyz answers it: not draining, and the audit trail writable.
  const isReady = () => !stopping() && auditTrail.ready();
  let ops: string | undefined;
  if (role === "worker") {
    answerScrapes(() => metrics.snapshot(), isReady);
  } else {
    const address = opsAddress(config.opsListen);
    if (address !== undefined)
      ops = opsUrl(startOpsListener(address, { metricsPage: () => renderExposition(metrics.snapshot()), isReady }), address);
  }
  const parts: ListenerParts = { config, logger, role, credentials, metrics, auditTrail, listeners, served, closing };
  const listener = new ApiListener(parts, first, server, ops);
  running = listener;

  if (role === "standalone" && config.reloadOnChange) {
    const watch = await watchForChanges(watchedPaths(config, first), (changed) => {
      logger.info("reload_requested", { reason: "files_changed", files: changed.join(",") });
      // The baseline first: a change made while the reload reads the files is seen again.
      void watch.rebase().then(() => listener.reload());
    });
  }
  return listener;
}
