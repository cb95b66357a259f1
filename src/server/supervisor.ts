/**
 * `caas serve --workers N`: N processes of this same executable share the port through
 * SO_REUSEPORT, and this process supervises them: a worker that dies is started again (with a
 * growing pause if it keeps dying), SIGHUP and SIGTERM are passed to all, and the supervisor
 * exits once every worker has drained. It holds no API listener and answers no API request
 * itself; it serves the ops listener (CAAS_OPS_LISTEN), with the metrics of all its workers
 * gathered over an IPC channel to each (group-metrics.ts).
 *
 * The supervisor alone reads the files. Each worker's stdin is a pipe from it: the first line is
 * the handoff (one line of JSON: the TLS material and the text of every credential file, read and
 * checked here), so all workers show one certificate and hold the same keys. On SIGHUP, or when a
 * file changes (CAAS_RELOAD_ON_CHANGE), the supervisor reads and checks everything again and, if
 * it all loads, sends the new handoff as a further line to every worker; a worker started or
 * restarted later gets the handoff the supervisor holds, never newer files it has not checked.
 * The pipe closes only when the supervisor ends, however it ends (SIGKILL included), and a worker
 * that sees it close drains and exits rather than serve unsupervised.
 */
import type { Subprocess } from "bun";
import type { Config } from "../config.ts";
import { opsAddress } from "../addresses.ts";
import { ConfigError } from "../config.ts";
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { credentialsFrom } from "../credentials/holder.ts";
import { watchForChanges } from "../files/change-watch.ts";
import type { Logger } from "../log.ts";
import { GroupMetrics } from "./group-metrics.ts";
import { assertPortFree } from "./bind.ts";
import { type Handoff, handoffFingerprint, loadHandoff, tlsParts, watchedPaths } from "./handoff.ts";
import { publishAdhocCertificate } from "./tls/files.ts";
import { opsUrl, startOpsListener } from "./ops-listener.ts";

/** How often the supervisor pings its workers, and how long a silence means a worker is hung (longer while it starts). */
const HEARTBEAT_INTERVAL_MS = 500;
const HEARTBEAT_SILENCE_MS = 2_000;
const HEARTBEAT_STARTING_MS = 15_000;

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
  let current = await loadHandoff(config, logger);
  await publishAdhocCertificate(config, current.tls, logger);
  credentialsFrom(current.sources, logger, tlsParts(current.tls));
  let handoff = serializeHandoff(current);

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
        group.exited(child, stopping ? "asked" : "unasked");
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
    // Never ended: the pipe closing is how the worker learns that this process is gone.
    send(child, handoff);
    workers.set(index, child);
    group.added(child);
  };

  for (let index = 0; index < config.workers; index++) start(index);
  // A worker stopped (SIGSTOP, a debugger) or stuck in a loop keeps its share of the port's new
  // connections, which then wait forever: the heartbeat finds it, and it is killed and replaced.
  const heartbeat = setInterval(() => {
    if (stopping) return;
    group.ping();
    for (const { child, silentMs } of group.unresponsive(Date.now(), HEARTBEAT_SILENCE_MS, HEARTBEAT_STARTING_MS)) {
      const index = [...workers.entries()].find(([, worker]) => worker === child)?.[0];
      logger.warn("worker_unresponsive", { worker: index, pid: child.pid, silentMs, hint: "killed with SIGKILL and replaced" });
      child.kill("SIGKILL");
    }
  }, HEARTBEAT_INTERVAL_MS);
  heartbeat.unref();
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
  /** Reads and checks every file; only when all of it loads is it sent to the workers (and kept for the ones started later). */
  let reloading: Promise<void> = Promise.resolve();
  const reload = (): Promise<void> => {
    reloading = reloading.then(async () => {
      if (stopping) return;
      try {
        const next = await loadHandoff(config, logger, { previous: current });
        credentialsFrom(next.sources, logger, tlsParts(next.tls));
        current = next;
        handoff = serializeHandoff(next);
        for (const child of workers.values()) send(child, handoff);
        // Each worker says "reloaded" once it has applied it.
        logger.info("reload_handed", { workers: workers.size, fingerprint: handoffFingerprint(next) });
      } catch (error) {
        logger.error("reload_failed", {
          reason: error instanceof Error ? error.message : "unknown",
          applied: "nothing",
          fingerprint: handoffFingerprint(current),
        });
      }
    });
    return reloading;
  };
  process.on("SIGHUP", () => {
    logger.info("reload_requested", { signal: "SIGHUP", workers: workers.size });
    void reload();
  });
  if (config.reloadOnChange) {
    const watch = await watchForChanges(watchedPaths(config, current), (changed) => {
      logger.info("reload_requested", { reason: "files_changed", files: changed.join(",") });
      // The baseline first: a change made while the reload reads the files is seen again.
      void watch.rebase().then(reload);
    });
  }
}

/** Writes one handoff line to a worker's pipe; a worker that died has closed its end, and its exit is handled by onExit. */
function send(child: Subprocess<"pipe", "inherit", "inherit">, line: string): void {
  try {
    child.stdin.write(line);
    void Promise.resolve(child.stdin.flush()).catch(() => undefined);
  } catch {
    // Reported by onExit.
  }
}

const TlsMaterialSchema = Type.Object({ cert: Type.String(), key: Type.String(), clientCa: Type.Optional(Type.String()) });
const FileTextSchema = Type.Object({ path: Type.String(), text: Type.String() });
const HandoffSchema = Type.Object({
  tls: TlsMaterialSchema,
  sources: Type.Object({
    secret: FileTextSchema,
    apiKeys: Type.Union([
      Type.Object({ kind: Type.Literal("file"), file: FileTextSchema }),
      Type.Object({ kind: Type.Literal("development"), path: Type.String(), key: Type.String(), name: Type.String() }),
      Type.Object({ kind: Type.Literal("none") }),
    ]),
    keyring: Type.Optional(
      Type.Object({ rootKey: Type.Object({ path: Type.String(), base64: Type.String() }), keyring: Type.Optional(FileTextSchema) }),
    ),
  }),
});

/** One line of JSON: JSON.stringify escapes every newline inside the texts. */
export function serializeHandoff(handoff: Handoff): string {
  return `${JSON.stringify(handoff)}\n`;
}

/** Undefined when the line is not a handoff: the sender and receiver disagree, or the line was cut. */
export function parseHandoff(line: string): Handoff | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  return Value.Check(HandoffSchema, parsed) ? parsed : undefined;
}

export interface SupervisorLink {
  /** What the supervisor loaded and checked, whole: the TLS material and every credential file's text. */
  readonly handoff: Handoff;
  /** Each later handoff (a reload), in order, to the one listener set. */
  onHandoff(listener: (handoff: Handoff) => void): void;
  /** Resolves when the supervisor's end of the pipe closes: it has exited or was killed. */
  readonly gone: Promise<void>;
}

/** In a worker: reads the supervisor's first line from stdin, then each later line, until the pipe ends. */
export async function connectToSupervisor(stdin: ReadableStream<Uint8Array> = Bun.stdin.stream()): Promise<SupervisorLink> {
  const reader = stdin.getReader();
  const decoder = new TextDecoder();
  let received = "";
  let newline = -1;
  while (newline === -1) {
    const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (chunk.done) throw new ConfigError("worker: the supervisor closed the pipe before sending what it loaded");
    received += decoder.decode(chunk.value, { stream: true });
    newline = received.indexOf("\n");
  }
  const handoff = parseHandoff(received.slice(0, newline));
  if (handoff === undefined) throw new ConfigError("worker: the supervisor sent no valid TLS material and credentials");
  received = received.slice(newline + 1);
  // Lines that arrive before the worker listens (it is still starting) wait for it, in order.
  const waiting: Handoff[] = [];
  let listener: ((handoff: Handoff) => void) | undefined;
  const gone = (async () => {
    for (;;) {
      for (let end = received.indexOf("\n"); end !== -1; end = received.indexOf("\n")) {
        const next = parseHandoff(received.slice(0, end));
        received = received.slice(end + 1);
        if (next === undefined) continue;
        if (listener === undefined) waiting.push(next);
        else listener(next);
      }
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done) return;
      received += decoder.decode(chunk.value, { stream: true });
    }
  })();
  const onHandoff = (next: (handoff: Handoff) => void): void => {
    listener = next;
    for (const handoff of waiting.splice(0)) next(handoff);
  };
  return { handoff, onHandoff, gone };
}
