/**
 * Binding the API port: the check that nobody else holds it, and one Bun.serve listener over TLS
 * with caas's limits. A reload binds a second one beside the first (SO_REUSEPORT); listener.ts
 * decides when.
 */
import { readFile } from "node:fs/promises";
import type { Server } from "bun";
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import type { TargetRoutes } from "./target-routes.ts";
import { tlsReason, type TlsMaterial } from "./tls/material.ts";
import { tlsPolicy } from "./tls/policy.ts";
import { errnoCode } from "../files/errno.ts";

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
    const reason = errnoCode(error) ?? "unavailable";
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
 * Bun.serve (1.4.5) has no cap on open connections (its options are listed in bun-types'
 * serve.d.ts: no maxConnections or backlog), so none is set here. What bounds them is the file
 * limit (LimitNOFILE= in deploy/caas.service), about 10 KiB each without a body (bench/held-bodies.ts),
 * and the body budget (CAAS_MAX_BODY_IN_FLIGHT) for what they send; a front proxy can cap them.
 * A listener that cannot be bound is a ConfigError (listenFailed).
 */
export function listen(served: TargetRoutes, config: Config, tls: TlsMaterial, port: number): Server<undefined> {
  try {
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
  } catch (error) {
    throw listenFailed(error, config.host, port);
  }
}

/**
 * Bun.serve throws OpenSSL's errors (and, for a bad CA, "Failed to create HTTP server") as they
 * are; uncaught, Bun prints them with a page of source. loadTlsMaterial checks for all it knows,
 * and whatever still fails here is reported like any other configuration mistake.
 */
function listenFailed(error: unknown, host: string, port: number): ConfigError {
  const code = errnoCode(error) ?? "";
  if (code.startsWith("E") && !code.startsWith("ERR_")) return new ConfigError(`CAAS_PORT: cannot listen on ${host}:${port} (${code})`);
  return new ConfigError(
    `CAAS_TLS_CERT, CAAS_TLS_KEY, CAAS_TLS_CLIENT_CA: cannot listen on ${host}:${port} with this TLS material (${tlsReason(error)})`,
  );
}

/**
 * Whether Linux hands the connections waiting in a closing listener's accept queue to another
 * listener on the same port (net.ipv4.tcp_migrate_req, 5.14+) instead of resetting them.
 * Undefined where the setting cannot be read.
 */
export async function acceptQueueMigration(): Promise<boolean | undefined> {
  try {
    return (await readFile("/proc/sys/net/ipv4/tcp_migrate_req", "utf8")).trim() !== "0";
  } catch {
    return undefined;
  }
}
