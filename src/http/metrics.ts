/**
 * One process's metrics, recorded on the hot path into typed arrays indexed by route and status,
 * so a request costs a few array writes. Routes are the app's own (never the raw path), so labels
 * stay bounded whatever paths clients send; so are error codes (the RequestErrorCode union), API
 * key names (the keys file) and keyring keys and versions (the keyring file). snapshot() turns
 * it all into a MetricsSnapshot (exposition.ts), which the ops listener renders, or, under a
 * supervisor, merges with its other workers' first.
 */
import type { RequestErrorCode } from "../errors.ts";
import { STATUS_OF } from "./error-answers.ts";
import { LATENCY_BUCKETS_SECONDS, labelSet, labelValue, type MetricsSnapshot, processSamples, type Samples } from "./exposition.ts";
import type { RouteTable } from "./routes.ts";

const UNMATCHED_ROUTE = "unmatched";
/** Statuses are 100..599; each route has a slot for every one, so counting one is an index. */
const STATUS_SLOTS = 600;
/** The explicit buckets and the +Inf one. */
const BUCKET_SLOTS = LATENCY_BUCKETS_SECONDS.length + 1;

export type ErrorCode = RequestErrorCode | "internal";
const ERROR_CODES: readonly ErrorCode[] = [...(Object.keys(STATUS_OF) as RequestErrorCode[]), "internal"];
const ERROR_INDEX = new Map<string, number>(ERROR_CODES.map((code, index) => [code, index]));

/** What the page reports of the body budget (body-budget.ts). */
export interface BodyBudgetReading {
  readonly limitBytes: number;
  readonly bytesInFlight: number;
  readonly refusals: number;
}

/** What the page reports of the audit trail (audit.ts). */
export interface AuditTrailReading {
  readonly writeFailures: number;
}

const KEY_OPERATIONS = ["encrypt", "decrypt", "sign", "hmac", "verify", "jwt", "jwt_verify"] as const;
export type KeyOperation = (typeof KEY_OPERATIONS)[number];

/**
 * Called for each use of a keyring key's version: sealing under it (encrypt), opening with it
 * (decrypt), signing or MACing with it (sign, hmac, jwt), or checking against it (verify, jwt_verify).
 */
export type KeyUseObserver = (keyName: string, version: number, operation: (typeof KEY_OPERATIONS)[number]) => void;

/** Per key, the version active now and how many are staged (credentials/holder.ts versionSummary). */
export interface LoadedVersions {
  readonly secret: { readonly active: number; readonly staged: number };
  readonly keyring: readonly { readonly name: string; readonly active: number; readonly staged: number }[];
}

export class Metrics {
  /** Route names by index (0: "unmatched"); a request is counted under its route as declared, never by the path sent. */
  #routes: readonly string[] = [UNMATCHED_ROUTE];
  /** The app's route table (routes.ts): "/keyring/orders/encrypt" is "/keyring/:name/encrypt". */
  #table: RouteTable | undefined;
  /** [route * STATUS_SLOTS + status]: requests answered. */
  #requests = new Float64Array(STATUS_SLOTS);
  /** [route * BUCKET_SLOTS + bucket]: requests answered within that bucket's bound and above the one before. */
  #latency = new Float64Array(BUCKET_SLOTS);
  #latencySeconds = new Float64Array(1);
  readonly #errors = new Float64Array(ERROR_CODES.length);
  readonly #apiKeyRequests = new Map<string, number>();
  /**
   * Keyring uses by key name, then version: one count per KEY_OPERATIONS. Labels are written at scrape time,
   * not per use: escaping and joining them on every call cost more than the count itself.
   */
  readonly #keyUses = new Map<string, Map<number, Float64Array>>();
  inFlight = 0;
  rateLimited = 0;
  reloads = 0;
  reloadFailures = 0;
  /** Set by the app that reads bodies under it; none: nothing is reported. */
  bodyBudget: BodyBudgetReading | undefined;
  /** Set by the server that writes one; none: nothing is reported. */
  auditTrail: AuditTrailReading | undefined;
  /** When the certificate being served expires (seconds since the epoch), set by the listener at start and on reload. */
  tlsCertificateExpiry: number | undefined;

  /** Takes the app's routes once it is built; until then every request is "unmatched". */
  registerRoutes(table: RouteTable): void {
    this.#table = table;
    this.#routes = [UNMATCHED_ROUTE, ...table.routes.map((route) => route.path)];
    const grown = (old: Float64Array, slots: number) => {
      const next = new Float64Array(this.#routes.length * slots);
      next.set(old.subarray(0, Math.min(old.length, next.length)));
      return next;
    };
    this.#requests = grown(this.#requests, STATUS_SLOTS);
    this.#latency = grown(this.#latency, BUCKET_SLOTS);
    this.#latencySeconds = grown(this.#latencySeconds, 1);
  }

  /** The route a request path is counted under, as an index for observe(); 0 is "unmatched". */
  routeIndexOf(path: string): number {
    return this.#table?.match(path)?.index ?? 0;
  }

  routeName(index: number): string {
    return this.#routes[index] ?? UNMATCHED_ROUTE;
  }

  /** The label for a request path: a known route, or "unmatched". */
  routeOf(path: string): string {
    return this.routeName(this.routeIndexOf(path));
  }

  observe(route: number, status: number, seconds: number): void {
    const slot = status >= 0 && status < STATUS_SLOTS ? status : 0;
    this.#requests[route * STATUS_SLOTS + slot]! += 1;
    this.#latencySeconds[route]! += seconds;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[bucket]!) bucket++;
    this.#latency[route * BUCKET_SLOTS + bucket]! += 1;
  }

  countError(code: ErrorCode): void {
    const index = ERROR_INDEX.get(code);
    if (index !== undefined) this.#errors[index]! += 1;
  }

  /** A request authenticated with the API key of this name (the name, never the key). */
  countApiKeyRequest(name: string): void {
    this.#apiKeyRequests.set(name, (this.#apiKeyRequests.get(name) ?? 0) + 1);
  }

  readonly keyUse: KeyUseObserver = (keyName, version, operation) => {
    let versions = this.#keyUses.get(keyName);
    if (versions === undefined) {
      versions = new Map();
      this.#keyUses.set(keyName, versions);
    }
    let counts = versions.get(version);
    if (counts === undefined) {
      counts = new Float64Array(KEY_OPERATIONS.length);
      versions.set(version, counts);
    }
    counts[KEY_OPERATIONS.indexOf(operation)]! += 1;
  };

  #keyUseSamples(): Samples {
    const samples: Samples = {};
    for (const [keyName, versions] of this.#keyUses) {
      const key = labelValue(keyName);
      for (const [version, counts] of versions)
        KEY_OPERATIONS.forEach((operation, index) => {
          if (counts[index]! > 0) samples[`key="${key}",version="${version}",operation="${operation}"`] = counts[index]!;
        });
    }
    return samples;
  }

  /** The fingerprint of the files this process loaded (credentials/sources.ts); set at start and on each reload. */
  credentialsFingerprint: string | undefined;
  /** The versions active and staged now, asked at each scrape: an activation time passes with no reload. */
  versionsNow: (() => LoadedVersions) | undefined;

  #versionSamples(): MetricsSnapshot["samples"] {
    const versions = this.versionsNow?.();
    const info =
      this.credentialsFingerprint === undefined
        ? {}
        : { caas_credentials_info: { [labelSet({ fingerprint: this.credentialsFingerprint })]: 1 } };
    if (versions === undefined) return info;
    const active: Samples = {};
    const staged: Samples = {};
    for (const key of versions.keyring) {
      active[labelSet({ key: key.name })] = key.active;
      staged[labelSet({ key: key.name })] = key.staged;
    }
    return {
      ...info,
      caas_secret_active_version: { "": versions.secret.active },
      caas_secret_staged_versions: { "": versions.secret.staged },
      caas_keyring_active_version: active,
      caas_keyring_staged_versions: staged,
    };
  }

  /** Every sample of this process, its process_* and build_info included. */
  snapshot(): MetricsSnapshot {
    const requests: Samples = {};
    const latency: Record<string, { buckets: number[]; sum: number }> = {};
    for (let route = 0; route < this.#routes.length; route++) {
      const name = labelValue(this.#routes[route]!);
      for (let status = 0; status < STATUS_SLOTS; status++) {
        const count = this.#requests[route * STATUS_SLOTS + status]!;
        if (count > 0) requests[`route="${name}",status="${status}"`] = count;
      }
      const buckets = Array.from(this.#latency.subarray(route * BUCKET_SLOTS, (route + 1) * BUCKET_SLOTS));
      if (buckets.some((count) => count > 0)) latency[`route="${name}"`] = { buckets, sum: this.#latencySeconds[route]! };
    }
    const errors: Samples = {};
    ERROR_CODES.forEach((code, index) => {
      if (this.#errors[index]! > 0) errors[labelSet({ code })] = this.#errors[index]!;
    });
    const apiKeys: Samples = {};
    for (const [name, count] of this.#apiKeyRequests) apiKeys[labelSet({ api_key: name })] = count;
    const samples: MetricsSnapshot["samples"] = {
      ...processSamples(),
      ...this.#versionSamples(),
      caas_requests_total: requests,
      caas_errors_total: errors,
      caas_api_key_requests_total: apiKeys,
      caas_keyring_operations_total: this.#keyUseSamples(),
      caas_in_flight_requests: { "": this.inFlight },
      caas_rate_limited_total: { "": this.rateLimited },
      caas_reloads_total: { 'outcome="ok"': this.reloads, 'outcome="failed"': this.reloadFailures },
      ...(this.bodyBudget === undefined
        ? {}
        : {
            caas_body_budget_refused_total: { "": this.bodyBudget.refusals },
            caas_body_bytes_in_flight: { "": this.bodyBudget.bytesInFlight },
            caas_body_bytes_in_flight_limit: { "": this.bodyBudget.limitBytes },
          }),
      ...(this.auditTrail === undefined ? {} : { caas_audit_write_failures_total: { "": this.auditTrail.writeFailures } }),
      ...(this.tlsCertificateExpiry === undefined
        ? {}
        : { caas_tls_certificate_expiry_timestamp_seconds: { "": this.tlsCertificateExpiry } }),
    };
    return { samples, histograms: { caas_request_duration_seconds: latency } };
  }
}
