/**
 * Prometheus metrics, kept in typed arrays indexed by route so the per-request cost is a few
 * array writes. Routes are the app's own (never the raw path), so labels stay bounded whatever
 * paths clients send. Each worker process keeps its own counters; the `worker` label says whose.
 */
import { RouteMatcher } from "../../http/paths.ts";

const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
const UNMATCHED_ROUTE = "unmatched";

interface RouteSeries {
  readonly route: string;
  readonly byStatus: Map<number, number>;
  readonly buckets: Float64Array;
  sumSeconds: number;
  count: number;
}

/** What /metrics reports of the body budget (src/http/body-budget.ts). */
export interface BodyBudgetReading {
  readonly limitBytes: number;
  readonly bytesInFlight: number;
  readonly refusals: number;
}

export class Metrics {
  readonly #series = new Map<string, RouteSeries>();
  /** Routes by pattern: "/keyring/orders/encrypt" is labelled "/keyring/:name/encrypt", never by the name sent. */
  readonly #routes = new RouteMatcher<string>();
  readonly #worker: string;
  inFlight = 0;
  rateLimited = 0;
  reloads = 0;
  reloadFailures = 0;
  /** Set by the app that reads bodies under it; none: nothing is reported. */
  bodyBudget: BodyBudgetReading | undefined;

  constructor(worker = "0") {
    this.#worker = worker;
    this.#series.set(UNMATCHED_ROUTE, this.#newSeries(UNMATCHED_ROUTE));
  }

  /** Declares the app's routes (paths without a trailing slash) once it is built. */
  registerRoutes(routes: Iterable<string>): void {
    for (const route of routes) {
      if (!this.#series.has(route)) this.#series.set(route, this.#newSeries(route));
      this.#routes.add(route, route);
    }
  }

  #newSeries(route: string): RouteSeries {
    return { route, byStatus: new Map(), buckets: new Float64Array(LATENCY_BUCKETS_SECONDS.length), sumSeconds: 0, count: 0 };
  }

  /** The label for a request path: a known route, or "unmatched". */
  routeOf(path: string): string {
    return this.#routes.match(path) ?? UNMATCHED_ROUTE;
  }

  observe(route: string, status: number, seconds: number): void {
    const series = this.#series.get(route) ?? this.#series.get(UNMATCHED_ROUTE)!;
    series.byStatus.set(status, (series.byStatus.get(status) ?? 0) + 1);
    series.sumSeconds += seconds;
    series.count += 1;
    for (let index = 0; index < LATENCY_BUCKETS_SECONDS.length; index++) {
      if (seconds <= LATENCY_BUCKETS_SECONDS[index]!) {
        series.buckets[index]! += 1;
        break;
      }
    }
  }

  #bodyBudgetLines(worker: string): string[] {
    const budget = this.bodyBudget;
    if (budget === undefined) return [];
    return [
      "# HELP caas_body_budget_refused_total Requests answered 503 busy because CAAS_MAX_BODY_IN_FLIGHT bytes of bodies were already held.",
      "# TYPE caas_body_budget_refused_total counter",
      `caas_body_budget_refused_total{${worker}} ${budget.refusals}`,
      "# HELP caas_body_bytes_in_flight Request body bytes reserved now by bodies being read or parsed.",
      "# TYPE caas_body_bytes_in_flight gauge",
      `caas_body_bytes_in_flight{${worker}} ${budget.bytesInFlight}`,
      "# HELP caas_body_bytes_in_flight_limit CAAS_MAX_BODY_IN_FLIGHT.",
      "# TYPE caas_body_bytes_in_flight_limit gauge",
      `caas_body_bytes_in_flight_limit{${worker}} ${budget.limitBytes}`,
    ];
  }

  render(): string {
    const worker = `worker="${this.#worker}"`;
    const lines: string[] = ["# HELP caas_requests_total Requests answered, by route and status.", "# TYPE caas_requests_total counter"];
    for (const series of this.#series.values()) {
      for (const [status, count] of series.byStatus)
        lines.push(`caas_requests_total{${worker},route="${series.route}",status="${status}"} ${count}`);
    }
    lines.push("# HELP caas_request_duration_seconds Time from request to answer.", "# TYPE caas_request_duration_seconds histogram");
    for (const series of this.#series.values()) {
      if (series.count === 0) continue;
      let cumulative = 0;
      LATENCY_BUCKETS_SECONDS.forEach((bound, index) => {
        cumulative += series.buckets[index]!;
        lines.push(`caas_request_duration_seconds_bucket{${worker},route="${series.route}",le="${bound}"} ${cumulative}`);
      });
      lines.push(`caas_request_duration_seconds_bucket{${worker},route="${series.route}",le="+Inf"} ${series.count}`);
      lines.push(`caas_request_duration_seconds_sum{${worker},route="${series.route}"} ${series.sumSeconds}`);
      lines.push(`caas_request_duration_seconds_count{${worker},route="${series.route}"} ${series.count}`);
    }
    const memory = process.memoryUsage();
    lines.push(
      "# HELP caas_in_flight_requests Requests being handled now.",
      "# TYPE caas_in_flight_requests gauge",
      `caas_in_flight_requests{${worker}} ${this.inFlight}`,
      "# HELP caas_rate_limited_total Requests refused with 429.",
      "# TYPE caas_rate_limited_total counter",
      `caas_rate_limited_total{${worker}} ${this.rateLimited}`,
      ...this.#bodyBudgetLines(worker),
      "# HELP caas_reloads_total Reloads (SIGHUP) by outcome.",
      "# TYPE caas_reloads_total counter",
      `caas_reloads_total{${worker},outcome="ok"} ${this.reloads}`,
      `caas_reloads_total{${worker},outcome="failed"} ${this.reloadFailures}`,
      "# HELP caas_resident_memory_bytes Resident set size.",
      "# TYPE caas_resident_memory_bytes gauge",
      `caas_resident_memory_bytes{${worker}} ${memory.rss}`,
      "",
    );
    return lines.join("\n");
  }
}
