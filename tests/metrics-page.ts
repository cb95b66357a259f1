/**
 * Reads a metrics page the way a scraper does: parsed by prom2javascript, which refuses a line
 * Prometheus's text format does not allow (a bad label, a value that is not a number), never by
 * a regular expression. Shared by the unit and end-to-end suites.
 */
import { getMetricsFromIterator, type PromHistogramData, type PromMetric, type PromMetrics } from "prom2javascript";

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  /** A counter's or gauge's value; a histogram's count. */
  readonly value: number;
  /** A histogram's buckets by their `le`, cumulative as written. */
  readonly buckets?: Readonly<Record<string, number>>;
  readonly sum?: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: readonly Sample[];
}

export interface MetricsPage {
  readonly families: readonly Family[];
  family(name: string): Family | undefined;
  /** The one sample of `name` whose labels include `labels`; undefined when there is none, an error when several match. */
  sample(name: string, labels?: Readonly<Record<string, string>>): Sample | undefined;
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
}

function isHistogramData(data: unknown): data is PromHistogramData {
  return typeof data === "object" && data !== null && "buckets" in data;
}

function familyOf(name: string, metric: PromMetric): Family {
  const samples = (metric.data as readonly unknown[]).map((data): Sample => {
    if (isHistogramData(data)) {
      return { labels: data.labels, value: data.count, buckets: data.buckets, ...(data.sum === undefined ? {} : { sum: data.sum }) };
    }
    const plain = data as { readonly labels: Record<string, string>; readonly value: number };
    return { labels: plain.labels, value: plain.value };
  });
  return { name, type: metric.type, help: metric.help, samples };
}

export async function parseMetricsPage(text: string): Promise<MetricsPage> {
  const parsed: PromMetrics = await getMetricsFromIterator(text.split("\n")[Symbol.iterator]());
  const families = Object.entries(parsed).map(([name, metric]) => familyOf(name, metric));
  const family = (name: string) => families.find((candidate) => candidate.name === name);
  const sample = (name: string, labels: Readonly<Record<string, string>> = {}) => {
    const found = (family(name)?.samples ?? []).filter((candidate) =>
      Object.entries(labels).every(([label, value]) => candidate.labels[label] === value),
    );
    if (found.length > 1) throw new Error(`${name}: ${found.length} samples match ${JSON.stringify(labels)}`);
    return found[0];
  };
  return { families, family, sample, value: (name, labels) => sample(name, labels)?.value };
}
