/**
 * Metrics for a supervisor and its workers as one: each scrape of the supervisor's ops listener
 * asks every worker for a snapshot over the IPC channel (Bun.spawn's `ipc`, process.send in the
 * worker) and merges them with the supervisor's own process_* series into one value per series,
 * with no worker label. A worker that has exited leaves its last counters and histogram buckets
 * behind, added to every later page, so no counter goes backwards when a worker is replaced;
 * what a worker killed outright counted after the last scrape is lost with it.
 */
import type { Subprocess } from "bun";
import { EMPTY_SNAPSHOT, mergeSnapshots, type MetricsSnapshot, processSamples, renderExposition } from "../http/exposition.ts";

/** How long a scrape waits for a worker's answer before it uses the worker's previous snapshot. */
const WORKER_ANSWER_MS = 1_000;

interface ScrapeRequest {
  readonly kind: "scrape";
  readonly id: number;
}

interface ScrapeAnswer {
  readonly kind: "metrics";
  readonly id: number;
  readonly ready: boolean;
  readonly snapshot: MetricsSnapshot;
}

/** The supervisor's heartbeat: a worker's event loop that answers it is serving. */
interface Ping {
  readonly kind: "ping";
}

interface Pong {
  readonly kind: "pong";
}

function kindOf(message: unknown): unknown {
  return typeof message === "object" && message !== null ? (message as { kind?: unknown }).kind : undefined;
}

function isScrapeRequest(message: unknown): message is ScrapeRequest {
  return kindOf(message) === "scrape";
}

function isScrapeAnswer(message: unknown): message is ScrapeAnswer {
  if (typeof message !== "object" || message === null) return false;
  const answer = message as Partial<Record<keyof ScrapeAnswer, unknown>>;
  return answer.kind === "metrics" && typeof answer.id === "number" && typeof answer.snapshot === "object" && answer.snapshot !== null;
}

/** In a worker: answers the supervisor's scrapes with this process's snapshot and readiness. */
export function answerScrapes(snapshot: () => MetricsSnapshot, isReady: () => boolean): void {
  const send = process.send?.bind(process);
  if (send === undefined) return;
  process.on("message", (message: unknown) => {
    if (kindOf(message) === "ping") {
      send({ kind: "pong" } satisfies Pong);
      return;
    }
    if (!isScrapeRequest(message)) return;
    const answer: ScrapeAnswer = { kind: "metrics", id: message.id, ready: isReady(), snapshot: snapshot() };
    send(answer);
  });
}

interface Worker {
  last: MetricsSnapshot | undefined;
  ready: boolean;
  /** When it last answered anything (a pong or a snapshot), or was started. */
  heardAt: number;
  /** Whether it has answered at all: a worker still starting is given longer. */
  answered: boolean;
}

interface Collection {
  readonly waiting: Set<Subprocess>;
  readonly done: () => void;
}

/** In the supervisor: its workers' metrics, live and retired, and the group's page. */
export class GroupMetrics {
  readonly #workers = new Map<Subprocess, Worker>();
  readonly #collections = new Map<number, Collection>();
  /** Counters and histograms of workers that have exited. */
  #retired: MetricsSnapshot = EMPTY_SNAPSHOT;
  #unexpectedExits = 0;
  #hangs = 0;
  #nextId = 1;

  added(child: Subprocess): void {
    this.#workers.set(child, { last: undefined, ready: false, heardAt: Date.now(), answered: false });
  }

  /** Sends every worker a heartbeat; each answer is noted by received(). */
  ping(): void {
    for (const child of this.#workers.keys()) {
      try {
        child.send({ kind: "ping" } satisfies Ping);
      } catch {
        // Exiting: onExit handles it.
      }
    }
  }

  /**
   * The workers that have answered nothing for `silentMs` (or, while still starting, for
   * `startingMs`): a process stopped, or an event loop that no longer turns. Each is counted once.
   */
  unresponsive(now: number, silentMs: number, startingMs: number): readonly { readonly child: Subprocess; readonly silentMs: number }[] {
    const found: { child: Subprocess; silentMs: number }[] = [];
    for (const [child, worker] of this.#workers) {
      const silent = now - worker.heardAt;
      if (silent < (worker.answered ? silentMs : startingMs)) continue;
      this.#hangs += 1;
      // Counted once: a kill that takes a moment is not a second hang.
      worker.heardAt = Number.POSITIVE_INFINITY;
      found.push({ child, silentMs: silent });
    }
    return found;
  }

  /** A worker has exited, when `asked` to stop or not (a crash, a kill): its counts stay. */
  exited(child: Subprocess, asked: "asked" | "unasked"): void {
    const worker = this.#workers.get(child);
    this.#workers.delete(child);
    if (asked === "unasked") this.#unexpectedExits += 1;
    if (worker?.last !== undefined) this.#retired = mergeSnapshots([this.#retired, worker.last], { countersOnly: true });
    for (const collection of this.#collections.values()) this.#answered(collection, child);
  }

  /** For Bun.spawn's `ipc` callback. */
  received(child: Subprocess, message: unknown): void {
    const worker = this.#workers.get(child);
    if (worker === undefined) return;
    if (worker.heardAt !== Number.POSITIVE_INFINITY) worker.heardAt = Date.now();
    worker.answered = true;
    if (!isScrapeAnswer(message)) return;
    worker.last = message.snapshot;
    worker.ready = message.ready === true;
    const collection = this.#collections.get(message.id);
    if (collection !== undefined) this.#answered(collection, child);
  }

  #answered(collection: Collection, child: Subprocess): void {
    collection.waiting.delete(child);
    if (collection.waiting.size === 0) collection.done();
  }

  /** Asks every worker for a fresh snapshot; resolves when all have answered, exited, or the wait is over. */
  async #collect(): Promise<void> {
    const id = this.#nextId++;
    const waiting = new Set<Subprocess>();
    for (const child of this.#workers.keys()) {
      try {
        child.send({ kind: "scrape", id } satisfies ScrapeRequest);
        waiting.add(child);
      } catch {
        // Exiting: its last snapshot stands, and onExit retires it.
      }
    }
    if (waiting.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#collections.set(id, { waiting, done: resolve });
      timer = setTimeout(resolve, WORKER_ANSWER_MS);
    });
    clearTimeout(timer);
    this.#collections.delete(id);
  }

  /** The group's page: every worker's snapshot, the retired workers' counts and the supervisor's own series, merged. */
  async page(): Promise<string> {
    await this.#collect();
    const own: MetricsSnapshot = {
      samples: {
        ...processSamples(),
        caas_workers: { "": this.#workers.size },
        caas_worker_exits_total: { "": this.#unexpectedExits },
        caas_worker_hangs_total: { "": this.#hangs },
      },
      histograms: {},
    };
    const live = [...this.#workers.values()].flatMap((worker) => (worker.last === undefined ? [] : [worker.last]));
    return renderExposition(mergeSnapshots([this.#retired, ...live, own]));
  }

  /** Ready when at least one worker says it is: the port is served. */
  async ready(): Promise<boolean> {
    await this.#collect();
    return [...this.#workers.values()].some((worker) => worker.ready);
  }
}
