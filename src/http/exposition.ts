/**
 * The metrics page as data: a snapshot is every sample of one process, by family and by label
 * set, plain enough to cross the supervisor's IPC channel. Snapshots of several processes merge
 * into one (counters and histograms add up, gauges by their family's rule), and the merged one
 * is rendered in Prometheus's text format (version 0.0.4). The families, their types and help
 * lines are listed here once, in the order the page shows them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { COMMIT, VERSION } from "../build-info.ts";

export type MetricType = "counter" | "gauge" | "histogram";

/** How a gauge of several processes becomes one value: added up, or the lowest or highest of them. */
export type GaugeRule = "sum" | "min" | "max";

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Gauges only; sum when absent. */
  readonly rule?: GaugeRule;
}

/** Upper bounds of the request latency histogram; a last, implicit bucket is +Inf. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

// biome-ignore format: one family per line, so the catalogue reads as a table
export const FAMILIES = [
  { name: "caas_build_info", type: "gauge", rule: "max", help: "Always 1; the version and commit caas was built from." },
  { name: "caas_requests_total", type: "counter", help: "Requests answered on the API port, by route and status." },
  { name: "caas_request_duration_seconds", type: "histogram", help: "Time from request to answer on the API port, by route." },
  { name: "caas_errors_total", type: "counter", help: "Requests refused or failed, by the error code of the answer." },
  { name: "caas_api_key_requests_total", type: "counter", help: "Requests authenticated with an API key, by the key's name in the keys file." },
  { name: "caas_keyring_operations_total", type: "counter", help: "Keyring key versions used, by key name, version and operation: encrypt or decrypt (a rewrap is one of each), sign, hmac or jwt (made with it), verify or jwt_verify (checked against it)." },
  { name: "caas_in_flight_requests", type: "gauge", help: "Requests being handled now." },
  { name: "caas_rate_limited_total", type: "counter", help: "Requests refused with 429 by CAAS_RATE_LIMIT." },
  { name: "caas_body_budget_refused_total", type: "counter", help: "Requests answered 503 busy because CAAS_MAX_BODY_IN_FLIGHT bytes of bodies were already held." },
  { name: "caas_body_bytes_in_flight", type: "gauge", help: "Request body bytes reserved now by bodies being read or parsed." },
  { name: "caas_body_bytes_in_flight_limit", type: "gauge", help: "CAAS_MAX_BODY_IN_FLIGHT, times the processes that each hold that many." },
  { name: "caas_audit_write_failures_total", type: "counter", help: "Writes to the audit trail that failed; each refused its requests with 503 audit_unavailable." },
  { name: "caas_reloads_total", type: "counter", help: "Reloads (SIGHUP) by outcome, counted by each process that reloads." },
  { name: "caas_tls_certificate_expiry_timestamp_seconds", type: "gauge", rule: "min", help: "When the served TLS certificate expires, in seconds since the epoch." },
  { name: "caas_credentials_info", type: "gauge", rule: "max", help: "Always 1, labelled with the fingerprint of the credential and TLS files this process loaded: equal on every instance that loaded the same files." },
  { name: "caas_secret_active_version", type: "gauge", rule: "max", help: "The pseudonym secret version that makes pseudonyms now." },
  { name: "caas_secret_staged_versions", type: "gauge", rule: "max", help: "Pseudonym secret versions staged now: they verify, and make nothing yet." },
  { name: "caas_keyring_active_version", type: "gauge", rule: "max", help: "The version of each keyring key that encrypts now, by key name." },
  { name: "caas_keyring_staged_versions", type: "gauge", rule: "max", help: "Versions of each keyring key staged now (they decrypt, and encrypt nothing yet), by key name." },
  { name: "caas_workers", type: "gauge", help: "Worker processes running now (serve --workers)." },
  { name: "caas_worker_hangs_total", type: "counter", help: "Workers that stopped answering the supervisor's heartbeat and were killed, then restarted." },
  { name: "caas_worker_exits_total", type: "counter", help: "Worker processes that exited without being asked to, each then restarted." },
  { name: "process_cpu_seconds_total", type: "counter", help: "User and system CPU time spent, by every process of this caas." },
  { name: "process_resident_memory_bytes", type: "gauge", help: "Resident memory, of every process of this caas together." },
  { name: "process_start_time_seconds", type: "gauge", rule: "min", help: "When the first process of this caas started, in seconds since the epoch." },
  { name: "process_open_fds", type: "gauge", help: "Open file descriptors, of every process of this caas together." },
  { name: "process_max_fds", type: "gauge", help: "The open file limit (RLIMIT_NOFILE), added up over every process of this caas." },
] as const satisfies readonly MetricFamily[];

export type FamilyName = (typeof FAMILIES)[number]["name"];

/** Samples of one family by label set, as the page writes it inside braces (`route="/x",status="200"`; "" for none). */
export type Samples = Record<string, number>;

/** A histogram's buckets, each counted on its own (not cumulative), the +Inf one last, and the sum of what was observed. */
export interface HistogramSample {
  readonly buckets: readonly number[];
  readonly sum: number;
}

export interface MetricsSnapshot {
  readonly samples: Readonly<Partial<Record<FamilyName, Readonly<Samples>>>>;
  readonly histograms: Readonly<Partial<Record<FamilyName, Readonly<Record<string, HistogramSample>>>>>;
}

export const EMPTY_SNAPSHOT: MetricsSnapshot = { samples: {}, histograms: {} };

const TYPE_OF = new Map<string, MetricType>(FAMILIES.map((family) => [family.name, family.type]));
const RULE_OF = new Map<string, GaugeRule>(FAMILIES.map((family) => [family.name, "rule" in family ? family.rule : "sum"]));

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** `name="value",...` for the given labels, values escaped. */
export function labelSet(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${labelValue(value)}"`)
    .join(",");
}

function combine(rule: GaugeRule, a: number, b: number): number {
  if (rule === "min") return Math.min(a, b);
  if (rule === "max") return Math.max(a, b);
  return a + b;
}

export interface MergeOptions {
  /** Keep counters and histograms only: what a process that has exited still contributes. */
  readonly countersOnly?: boolean;
}

/** One snapshot of several processes: counters and histogram buckets added up, gauges by their family's rule. */
export function mergeSnapshots(parts: readonly MetricsSnapshot[], options: MergeOptions = {}): MetricsSnapshot {
  const samples: Partial<Record<FamilyName, Samples>> = {};
  const histograms: Partial<Record<FamilyName, Record<string, HistogramSample>>> = {};
  for (const part of parts) {
    for (const [name, series] of Object.entries(part.samples) as [FamilyName, Samples][]) {
      const type = TYPE_OF.get(name);
      if (type === undefined || (options.countersOnly === true && type !== "counter")) continue;
      const rule = type === "counter" ? "sum" : (RULE_OF.get(name) ?? "sum");
      const into: Samples = samples[name] ?? {};
      samples[name] = into;
      for (const [labels, value] of Object.entries(series)) {
        const before = into[labels];
        into[labels] = before === undefined ? value : combine(rule, before, value);
      }
    }
    for (const [name, series] of Object.entries(part.histograms) as [FamilyName, Record<string, HistogramSample>][]) {
      if (TYPE_OF.get(name) !== "histogram") continue;
      const into: Record<string, HistogramSample> = histograms[name] ?? {};
      histograms[name] = into;
      for (const [labels, sample] of Object.entries(series)) {
        const before = into[labels];
        into[labels] =
          before === undefined
            ? { buckets: [...sample.buckets], sum: sample.sum }
            : { buckets: before.buckets.map((count, index) => count + (sample.buckets[index] ?? 0)), sum: before.sum + sample.sum };
      }
    }
  }
  return { samples, histograms };
}

function sampleLine(name: string, labels: string, value: number): string {
  return labels === "" ? `${name} ${value}` : `${name}{${labels}} ${value}`;
}

/** The page Prometheus scrapes: every family that has a sample, with its HELP and TYPE lines. */
export function renderExposition(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const series = family.type === "histogram" ? snapshot.histograms[family.name] : snapshot.samples[family.name];
    if (series === undefined || Object.keys(series).length === 0) continue;
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type !== "histogram") {
      for (const [labels, value] of Object.entries(series as Samples)) lines.push(sampleLine(family.name, labels, value));
      continue;
    }
    for (const [labels, sample] of Object.entries(series as Record<string, HistogramSample>)) {
      const prefix = labels === "" ? "" : `${labels},`;
      let cumulative = 0;
      LATENCY_BUCKETS_SECONDS.forEach((bound, index) => {
        cumulative += sample.buckets[index] ?? 0;
        lines.push(`${family.name}_bucket{${prefix}le="${bound}"} ${cumulative}`);
      });
      cumulative += sample.buckets[LATENCY_BUCKETS_SECONDS.length] ?? 0;
      lines.push(`${family.name}_bucket{${prefix}le="+Inf"} ${cumulative}`);
      lines.push(sampleLine(`${family.name}_sum`, labels, sample.sum));
      lines.push(sampleLine(`${family.name}_count`, labels, cumulative));
    }
  }
  lines.push("");
  return lines.join("\n");
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function openFileCount(): number | undefined {
  try {
    // Less the descriptor readdir itself holds open on the directory.
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

/**
 * What every process reports of itself: build_info and the standard process_* series. The file
 * counts come from /proc (Linux); elsewhere they are left out rather than guessed.
 */
export function processSamples(): Partial<Record<FamilyName, Samples>> {
  const cpu = process.cpuUsage();
  const samples: Partial<Record<FamilyName, Samples>> = {
    caas_build_info: { [labelSet({ version: VERSION, commit: COMMIT })]: 1 },
    process_cpu_seconds_total: { "": (cpu.user + cpu.system) / 1e6 },
    process_resident_memory_bytes: { "": process.memoryUsage.rss() },
    process_start_time_seconds: { "": performance.timeOrigin / 1000 },
  };
  const open = openFileCount();
  if (open !== undefined) samples.process_open_fds = { "": open };
  const soft = /^Max open files\s+(\d+)/m.exec(readProc("/proc/self/limits") ?? "")?.[1];
  if (soft !== undefined) samples.process_max_fds = { "": Number(soft) };
  return samples;
}
