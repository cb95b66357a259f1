/**
 * `caas serve --workers N`: N processes of this same executable share the port through
 * SO_REUSEPORT, and this process supervises them: a worker that dies is started again (with a
 * growing pause if it keeps dying), SIGHUP and SIGTERM are passed to all, and the supervisor
 * exits once every worker has drained. It holds no API listener and answers no API request
 * itself; it serves the ops listener (CAAS_OPS_LISTEN), with the metrics of all its workers
 * gathered over an IPC channel to each (group-metrics.ts).
 *
 * Each worker's stdin is a pipe from the supervisor: the first line is the TLS material (one
 * line of JSON, checked once here, so all workers show one certificate and one client CA), and
 * the pipe then stays open. It closes only when the supervisor ends, however it ends (SIGKILL
 * included), and a worker that sees it close drains and exits rather than serve unsupervised.
 */
import type { Subprocess } from "bun";
import type { Config } from "../config.ts";
import { ConfigError, opsAddress } from "../config.ts";
import { loadCredentials } from "../credentials/holder.ts";
import type { Logger } from "../log.ts";
import { GroupMetrics } from "./group-metrics.ts";
import { assertPortFree, loadTlsMaterial, publishAdhocCertificate } from "./listener.ts";
import { opsUrl, startOpsListener } from "./ops-listener.ts";
import { parseTlsMaterial, serializeTlsMaterial, type TlsMaterial } from "./tls/material.ts";

/** Environment variables the supervisor sets for its workers. */
export const WORKER_INDEX_ENV = "CAAS_WORKER_INDEX";

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
  // Loaded and checked once here, so a mistake stops the supervisor (exit 78) instead of every
  // worker in turn, the state secret is created by one process, and all workers show one certificate.
  const tls = await loadTlsMaterial(config, logger);
  await publishAdhocCertificate(config, tls, logger);
  const handoff = `${serializeTlsMaterial(tls)}\n`;
  await loadCredentials(config, logger);

  const workers = new Map<number, Subprocess>();
  const recentExits: number[][] = Array.from({ length: config.workers }, () => []);
  let stopping = false;
  const group = new GroupMetrics();
  const address = opsAddress(config.opsListen);
  const ops =
    address === undefined
      ? undefined
      : opsUrl(
          startOpsListener(address, { metricsPage: () => group.page(), isReady: async () => !stopping && (await group.ready()) }),
          address,
        );

  const start = (index: number): void => {
    const child = Bun.spawn([...selfCommand(), "serve", ...serveArgs, "--port", String(port)], {
      env: { ...process.env, [WORKER_INDEX_ENV]: String(index) },
      stdin: "pipe",
      stdout: "inherit",
      stderr: "inherit",
      ipc: (message, child) => group.received(child, message),
      onExit: (child, exitCode, signalCode) => {
        workers.delete(index);
        group.exited(child, !stopping);
        if (stopping) return;
        const now = Date.now();
        const exits = [...(recentExits[index] ?? []).filter((time) => now - time < 30_000), now];
        recentExits[index] = exits;
        const pauseMs = Math.min(5_000, 100 * 2 ** (exits.length - 1));
        logger.warn("worker_exited", {
          worker: index,
          exitCode: exitCode ?? undefined,
          signal: signalCode ?? undefined,
          restartInMs: pauseMs,
        });
        setTimeout(() => {
          if (!stopping) start(index);
        }, pauseMs);
      },
    });
    // Never ended: the pipe closing is how the worker learns that this process is gone. A worker
    // that died at once has closed its end; its exit is handled above, so the failed write is not.
    try {
      child.stdin.write(handoff);
      void Promise.resolve(child.stdin.flush()).catch(() => undefined);
    } catch {
      // Reported by onExit.
    }
    workers.set(index, child);
    group.added(child);
  };

  for (let index = 0; index < config.workers; index++) start(index);
  logger.info("supervising", { workers: config.workers, port, ...(ops === undefined ? {} : { opsUrl: ops }), pid: process.pid });

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

export interface SupervisorLink {
  /** The TLS material the supervisor loaded and checked, whole. */
  readonly tls: TlsMaterial;
  /** Resolves when the supervisor's end of the pipe closes: it has exited or was killed. */
  readonly gone: Promise<void>;
}

/** In a worker: reads the supervisor's first line from stdin, then watches the pipe for its end. */
export async function connectToSupervisor(stdin: ReadableStream<Uint8Array> = Bun.stdin.stream()): Promise<SupervisorLink> {
  const reader = stdin.getReader();
  const decoder = new TextDecoder();
  let received = "";
  let newline = -1;
  while (newline === -1) {
    const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (chunk.done) throw new ConfigError("worker: the supervisor closed the pipe before sending the TLS material");
    received += decoder.decode(chunk.value, { stream: true });
    newline = received.indexOf("\n");
  }
  const tls = parseTlsMaterial(received.slice(0, newline));
  if (tls === undefined) throw new ConfigError("worker: the supervisor sent no valid TLS material");
  const gone = (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done) return;
    }
  })();
  return { tls, gone };
}
