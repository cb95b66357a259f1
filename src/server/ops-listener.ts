/**
 * The ops listener (CAAS_OPS_LISTEN): plain HTTP for what monitoring calls, /metrics, /healthz and
 * /readyz, apart from the API port. The metrics page names API keys, keyring keys and how busy
 * each is, so it is kept off the port clients reach, and by default on loopback. With workers,
 * the supervisor serves it for the whole group (supervisor.ts); otherwise the one process does.
 */
import type { Server } from "bun";
import { isLoopbackHost, type OpsAddress, opsAddress } from "../addresses.ts";
import { type Config, ConfigError } from "../config.ts";
import { errorBody, MethodNotAllowed, NotFound, NotReady } from "../errors.ts";
import { answerFor } from "../http/error-answers.ts";
import { JSON_HEADERS } from "../http/headers.ts";
import { errnoCode } from "../files/errno.ts";

/** Scrapes and probes are short; an idle connection is not kept for long. */
const OPS_IDLE_TIMEOUT_SECONDS = 30;

/** The content type of Prometheus's text format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface OpsSources {
  /** The metrics page, in Prometheus's text format. */
  readonly metricsPage: () => string | Promise<string>;
  /** Whether the API would take traffic: the same answer as /readyz on the API port. */
  readonly isReady: () => boolean | Promise<boolean>;
}

function ok(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: JSON_HEADERS });
}

async function answer(request: Request, sources: OpsSources): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") return answerFor(new NotFound());
  if (request.method !== "GET" && request.method !== "HEAD") return answerFor(new MethodNotAllowed(["GET", "HEAD"]));
  if (path === "/healthz") return ok({ status: "ok" });
  if (path === "/readyz") return (await sources.isReady()) ? ok({ status: "ready" }) : answerFor(new NotReady());
  return new Response(await sources.metricsPage(), { headers: { "content-type": EXPOSITION_CONTENT_TYPE } });
}

/**
 * What an operator should hear about an ops listener on the network (CAAS_OPS_ALLOW_REMOTE=true):
 * said by `serve --check` and at every start. undefined when it is off or on loopback.
 */
export function remoteOpsWarning(config: Config): string | undefined {
  const address = opsAddress(config.opsListen);
  if (address === undefined || isLoopbackHost(address.hostname)) return undefined;
  return `CAAS_OPS_LISTEN: ${config.opsListen} is reachable from the network (CAAS_OPS_ALLOW_REMOTE=true); its plain-HTTP /metrics names every API key and keyring key, so keep the port to the monitoring network`;
}

/** Binds the ops listener, or throws a ConfigError naming CAAS_OPS_LISTEN (the address is taken, say). */
export function startOpsListener(address: OpsAddress, sources: OpsSources): Server<undefined> {
  try {
    return Bun.serve({
      hostname: address.hostname,
      port: address.port,
      development: false,
      // Said outright: left unset, Bun 1.4.5 set SO_REUSEPORT here too in a process whose API
      // listener has it, and a second caas shared this port and took half the scrapes.
      reusePort: false,
      idleTimeout: OPS_IDLE_TIMEOUT_SECONDS,
      // Nothing here reads a body.
      maxRequestBodySize: 0,
      // A page that cannot be made is a bare 500 with no detail; the scraper records the failure.
      fetch: (request) =>
        answer(request, sources).catch(
          () => new Response(JSON.stringify(errorBody("internal", "Internal error.")), { status: 500, headers: JSON_HEADERS }),
        ),
    });
  } catch (error) {
    const code = errnoCode(error) ?? "unavailable";
    const reason = code === "EADDRINUSE" ? "address already in use" : code;
    throw new ConfigError(`CAAS_OPS_LISTEN: cannot listen on ${address.hostname}:${address.port} (${reason})`);
  }
}

/** The URL the "listening" line reports, with the port actually bound (CAAS_OPS_LISTEN's port may be 0). */
export function opsUrl(server: Server<undefined>, address: OpsAddress): string {
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `http://${host}:${server.port ?? address.port}`;
}
