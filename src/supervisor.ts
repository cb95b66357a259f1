/**
 * `caas serve --workers N`: N processes of this same executable share the port through
 * SO_REUSEPORT, and this process supervises them: a worker that dies is started again (with a
 * growing pause if it keeps dying), SIGHUP and SIGTERM are passed to all, and the supervisor
 * exits once every worker has drained. It holds no listener and answers no request itself.
 */
import type { Subprocess } from "bun";
import type { Config } from "./config.ts";
import { ConfigError } from "./config.ts";
import { loadCredentials } from "./credentials.ts";
import type { Logger } from "./log.ts";
import { assertPortFree, loadTlsMaterial, type TlsMaterial } from "./server.ts";

/** Environment variables the supervisor sets for its workers. */
export const WORKER_INDEX_ENV = "CAAS_WORKER_INDEX";
export const WORKER_TLS_ENV = "CAAS_WORKER_TLS_ON_STDIN";

/** How to start this program again: the executable itself when compiled, bun and the entry file from sources. */
function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

function freePort(host: string): number {
  const probe = Bun.listen({ hostname: host, port: 0, exclusive: true, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export async function superviseWorkers(config: Config, serveArgs: readonly string[], logger: Logger): Promise<void> {
  if (config.port !== 0) assertPortFree(config.host, config.port);
  const port = config.port === 0 ? freePort(config.host) : config.port;
  if (config.port === 0 && port === 0) throw new ConfigError("CAAS_PORT: could not find a free port");
  // Made once here, so the state secret is created by one process and all workers show one certificate.
  const adhoc: TlsMaterial | undefined = config.tlsCert === undefined ? await loadTlsMaterial(config, logger) : undefined;
  await loadCredentials(config, logger);

  const workers = new Map<number, Subprocess>();
  const recentExits: number[][] = Array.from({ length: config.workers }, () => []);
  let stopping = false;

  const start = (index: number): void => {
    const child = Bun.spawn([...selfCommand(), "serve", ...serveArgs, "--port", String(port)], {
      env: { ...process.env, [WORKER_INDEX_ENV]: String(index), ...(adhoc === undefined ? {} : { [WORKER_TLS_ENV]: "1" }) },
      stdin: adhoc === undefined ? "ignore" : "pipe",
      stdout: "inherit",
      stderr: "inherit",
      onExit: (_process, exitCode, signalCode) => {
        workers.delete(index);
        if (stopping) return;
        const now = Date.now();
        const exits = (recentExits[index] = [...(recentExits[index] ?? []).filter((time) => now - time < 30_000), now]);
        const pauseMs = Math.min(5_000, 100 * 2 ** (exits.length - 1));
        logger.warn("worker_exited", { worker: index, exitCode: exitCode ?? undefined, signal: signalCode ?? undefined, restartInMs: pauseMs });
        setTimeout(() => {
          if (!stopping) start(index);
        }, pauseMs);
      },
    });
    if (adhoc !== undefined && child.stdin !== undefined && typeof child.stdin !== "number") {
      child.stdin.write(JSON.stringify({ cert: adhoc.cert, key: adhoc.key }));
      void child.stdin.end();
    }
    workers.set(index, child);
  };

  for (let index = 0; index < config.workers; index++) start(index);
  logger.info("supervising", { workers: config.workers, port, pid: process.pid });

  const stopAll = (signal: "SIGTERM" | "SIGINT") => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping_workers", { signal, workers: workers.size });
    for (const child of workers.values()) child.kill(signal);
    const killAfterMs = (config.drainTimeoutSeconds + 5) * 1000;
    const killer = setTimeout(() => {
      for (const child of workers.values()) child.kill("SIGKILL");
    }, killAfterMs);
    void Promise.all([...workers.values()].map((child) => child.exited)).then(() => {
      clearTimeout(killer);
      logger.info("stopped", { reason: signal });
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  process.on("SIGINT", () => stopAll("SIGINT"));
  process.on("SIGHUP", () => {
    logger.info("reload_requested", { signal: "SIGHUP", workers: workers.size });
    for (const child of workers.values()) child.kill("SIGHUP");
  });
}

/** In a worker: the ad-hoc TLS material the supervisor wrote to our stdin. */
export async function readTlsFromSupervisor(): Promise<TlsMaterial> {
  const text = await Bun.stdin.text();
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || !("cert" in parsed) || !("key" in parsed) || typeof parsed.cert !== "string" || typeof parsed.key !== "string") {
    throw new ConfigError("worker: the supervisor sent no TLS material");
  }
  return { cert: parsed.cert, key: parsed.key };
}
