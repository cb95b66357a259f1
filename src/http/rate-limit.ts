/**
 * Per-client rate limiting: a token bucket per client, `rate` requests per second with a burst
 * of `rate` (at least 1), kept in memory in a map of fixed capacity. A client is its API key's
 * name where it has a valid key, else its address (an IPv6 client by its /64, which is what one
 * host gets).
 *
 * The map is bounded: when a new client arrives at capacity, the least recently seen bucket is
 * dropped. It has had the longest to refill, and a full bucket is the same as no bucket, so
 * eviction costs nothing until the whole map is younger than one refill (a flood of fresh
 * identities); even then the evicted client merely gets a fresh burst. An attacker rotating keys
 * or addresses can change who is tracked, never how much memory it takes.
 *
 * Buckets are per process: with N workers a client may get up to N times the rate.
 */
import type { Server } from "bun";
import { answerFor } from "./error-answers.ts";
import { RateLimited } from "../errors.ts";
import type { ApiKeyStore } from "../credentials/api-keys.ts";
import { Callers } from "./caller.ts";
import type { AddressOf } from "./client-address.ts";
import { pathOf, withoutTrailingSlash } from "./paths.ts";

/** Most clients tracked at once; about 100 bytes each. */
export const DEFAULT_RATE_LIMIT_CAPACITY = 10_000;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, in milliseconds of `now()`. */
  updated: number;
}

export interface RateLimiterOptions {
  /** Requests per second, and the burst; 0 disables the limiter. */
  readonly rate: number;
  readonly capacity?: number;
  /** A monotonic clock in milliseconds; tests pass their own. */
  readonly now?: () => number;
}

export class RateLimiter {
  readonly rate: number;
  readonly capacity: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!Number.isFinite(options.rate) || options.rate < 0) throw new RangeError("rate must be a finite number >= 0");
    const capacity = options.capacity ?? DEFAULT_RATE_LIMIT_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a whole number >= 1");
    this.rate = options.rate;
    this.capacity = capacity;
    this.#now = options.now ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.rate > 0;
  }

  /** Clients tracked now; never more than `capacity`. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Spends one token of `clientKey`'s bucket: 0 when the request may go ahead, else the whole
   * number of seconds (at least 1) until a token is back, for Retry-After.
   */
  take(clientKey: string): number {
    if (this.rate <= 0) return 0;
    const now = this.#now();
    // A burst below one whole token would never let anything through.
    const burst = Math.max(1, this.rate);
    let bucket = this.#buckets.get(clientKey);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.capacity) {
        // Map iteration order is insertion order, and every take re-inserts: the first key is the least recently seen.
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = { tokens: burst, updated: now };
    } else {
      this.#buckets.delete(clientKey);
      const elapsedSeconds = Math.max(0, now - bucket.updated) / 1000;
      bucket.tokens = Math.min(burst, bucket.tokens + elapsedSeconds * this.rate);
      bucket.updated = now;
    }
    this.#buckets.set(clientKey, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  /** take(), throwing RateLimited (429 with Retry-After) when the client is over its rate. */
  charge(clientKey: string): void {
    const retryAfter = this.take(clientKey);
    if (retryAfter > 0) throw new RateLimited(retryAfter);
  }

  /** Gives back a token taken for `clientKey` (never past the burst); nothing if it is no longer tracked. */
  refund(clientKey: string): void {
    const bucket = this.#buckets.get(clientKey);
    if (bucket !== undefined) bucket.tokens = Math.min(Math.max(1, this.rate), bucket.tokens + 1);
  }
}

/** The bucket of a caller who presented a valid API key, by the key's name (no key material is kept). */
export function apiKeyClient(keyName: string): string {
  return `key:${keyName}`;
}

/**
 * The bucket of a caller known only by address. IPv4 (and IPv4-mapped IPv6) by the whole
 * address; IPv6 by its /64, since one host is routinely given a whole /64 to rotate through.
 */
export function addressClient(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return `ip:${mapped[1]}`;
  if (!address.includes(":")) return `ip:${address}`;
  return `ip6:${ipv6Prefix64(address)}`;
}

/** The first four groups of an IPv6 address, expanded ("2001:db8::1" -> "2001:db8:0:0"). */
function ipv6Prefix64(address: string): string {
  const withoutZone = address.split("%", 1)[0] ?? address;
  const [head = "", tail] = withoutZone.toLowerCase().split("::", 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill("0"), ...tailGroups];
  return groups
    .slice(0, 4)
    .map((group) => (/^[0-9a-f]{1,4}$/.test(group) ? group.replace(/^0+(?=.)/, "") : "x"))
    .join(":");
}

/**
 * The bucket each request was charged to, kept as long as its request, so a route that finds the
 * caller's key only in the JSON body can move the charge to it. One per server, handed to the gate
 * and to the app, so no state outlives a server and nothing is shared between two of them.
 */
export class Admissions {
  readonly #byRequest = new WeakMap<Request, { client: string }>();

  constructor(readonly limiter: RateLimiter) {}

  /** Records that the gate charged `request` to `client`. */
  admit(request: Request, client: string): void {
    this.#byRequest.set(request, { client });
  }

  /**
   * For routes that find the caller's key in the JSON body, after authenticating it: moves this
   * request's charge from its address to the key, throwing RateLimited (429) if the key is over
   * its rate. Nothing happens for a request the gate never saw, or one already charged to this
   * key (the key came in a header too). Call it only with a valid key.
   */
  chargeToKey(request: Request, keyName: string): void {
    const admission = this.#byRequest.get(request);
    const client = apiKeyClient(keyName);
    if (admission === undefined || admission.client === client) return;
    const charged = admission.client;
    admission.client = client;
    this.limiter.refund(charged);
    this.limiter.charge(client);
  }
}

/** Something the server checks before routing: an answer to send instead, or undefined to go on. */
export type Gate = (request: Request, server?: Pick<Server<undefined>, "requestIP">) => Response | undefined;

export interface RateLimitGateOptions {
  /** The API key store in force now; the key a request's headers carry is looked up in it, once, and only a valid one counts. */
  readonly apiKeys: () => ApiKeyStore;
  /** Where each request's caller is resolved once, shared with the app's routes (caller.ts); the gate's own when absent. */
  readonly callers?: Callers;
  /**
   * Paths (without a trailing slash) whose GET and HEAD requests are never limited nor counted:
   * the probes. Behind a load balancer every client shares its address, so a burst of traffic
   * would otherwise fail the health checks and take the instance out of rotation.
   */
  readonly probePaths?: ReadonlySet<string>;
  /**
   * The client's address, as the audit trail has it (X-Forwarded-For from a trusted proxy:
   * client-address.ts); the listener's peer address where it answers none.
   */
  readonly clientAddress?: AddressOf;
}

function isProbe(request: Request, probePaths: ReadonlySet<string>): boolean {
  return (request.method === "GET" || request.method === "HEAD") && probePaths.has(withoutTrailingSlash(pathOf(request.url)));
}

/**
 * The server-level check: every request spends a token of its client's bucket before it is
 * routed, so even a body that cannot be parsed is paid for. A key that is presented but not
 * valid counts as no key, so guessing keys is limited by address, and inventing keys buys no
 * fresh buckets. The header key's record is resolved in `callers`, where the routes and the log
 * line of a refusal find it; the charge is admitted to `admissions`, so a key sent only in the
 * JSON body moves it with chargeToKey(). Probes pass untouched. undefined when the limiter is off.
 */
export function rateLimitGate(admissions: Admissions, options: RateLimitGateOptions): Gate | undefined {
  const { limiter } = admissions;
  if (!limiter.enabled) return undefined;
  const probePaths = options.probePaths ?? new Set<string>();
  const callers = options.callers ?? new Callers();
  return (request, server) => {
    if (probePaths.size > 0 && isProbe(request, probePaths)) return undefined;
    const caller = callers.inHeaders(request, options.apiKeys());
    const address = () => options.clientAddress?.(request) ?? server?.requestIP(request)?.address ?? "unknown";
    const client = caller.record === undefined ? addressClient(address()) : apiKeyClient(caller.record.name);
    admissions.admit(request, client);
    const retryAfter = limiter.take(client);
    return retryAfter > 0 ? answerFor(new RateLimited(retryAfter)) : undefined;
  };
}
