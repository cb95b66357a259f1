/**
 * The metrics page as Prometheus reads it (parsed by a real parser, tests/metrics-page.ts): what
 * the app counts, and how the pages of several processes become one, as a supervisor serves it.
 */
import { describe, expect, it } from "bun:test";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { Keyring, KeyringKey } from "../../src/credentials/keyring.ts";
import { XaesKey } from "../../src/crypto/xaes.ts";
import { LATENCY_BUCKETS_SECONDS, mergeSnapshots, renderExposition } from "../../src/http/exposition.ts";
import { AuditTrail } from "../../src/http/audit.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { RouteTable } from "../../src/http/routes.ts";
import { parseMetricsPage } from "../metrics-page.ts";
import { postJson, testApp, testCredentials } from "./helpers.ts";
import { README_USER } from "../../support/constants.ts";

/** A table of POST routes at these paths, as an app declaring them would make. */
const routeTable = (...paths: string[]) => new RouteTable(paths.map((path) => ({ method: "POST", path, hooks: {} })));

const page = (metrics: Metrics) => parseMetricsPage(renderExposition(metrics.snapshot()));

function keyringOf(name: string, versions: readonly number[]): Keyring {
  const ciphers = new Map(versions.map((version) => [version, new XaesKey(crypto.getRandomValues(new Uint8Array(32)))]));
  const created = new Date().toISOString();
  const info = { name, created, minDecryptionVersion: versions[0]!, versions: versions.map((version) => ({ version, created })) };
  return new Keyring([new KeyringKey(info, ciphers)]);
}

describe("one process's page", () => {
  it("has HELP and TYPE for every family, and a histogram whose buckets add up to its count", async () => {
    const metrics = new Metrics();
    metrics.registerRoutes(routeTable("/oracleinvocation"));
    const route = metrics.routeIndexOf("/oracleinvocation");
    for (const seconds of [0.0001, 0.003, 0.003, 0.2, 9]) metrics.observe(route, 200, seconds);
    metrics.observe(route, 400, 0.001);
    const parsed = await page(metrics);
    for (const family of parsed.families) {
      expect(family.help.length).toBeGreaterThan(0);
      expect(["counter", "gauge", "histogram"]).toContain(family.type);
      if (family.type === "counter") expect(family.name).toEndWith("_total");
    }
    expect(parsed.value("caas_requests_total", { route: "/oracleinvocation", status: "200" })).toBe(5);
    expect(parsed.value("caas_requests_total", { route: "/oracleinvocation", status: "400" })).toBe(1);
    const histogram = parsed.sample("caas_request_duration_seconds", { route: "/oracleinvocation" })!;
    expect(histogram.value).toBe(6);
    expect(histogram.buckets?.["0.0005"]).toBe(1);
    expect(histogram.buckets?.["0.005"]).toBe(4);
    expect(histogram.buckets?.[String(LATENCY_BUCKETS_SECONDS.at(-1))]).toBe(5);
    expect(histogram.buckets?.["+Inf"]).toBe(6);
    expect(histogram.sum).toBeCloseTo(9.2071, 6);
  });

  it("counts a path by its route, never by what was sent, and an unknown path as unmatched", async () => {
    const metrics = new Metrics();
    metrics.registerRoutes(routeTable("/keyring/:name/encrypt"));
    metrics.observe(metrics.routeIndexOf("/keyring/orders/encrypt"), 200, 0.001);
    metrics.observe(metrics.routeIndexOf('/x"\n{}'), 404, 0.001);
    const parsed = await page(metrics);
    expect(parsed.value("caas_requests_total", { route: "/keyring/:name/encrypt", status: "200" })).toBe(1);
    expect(parsed.value("caas_requests_total", { route: "unmatched", status: "404" })).toBe(1);
  });

  it("names the build and the process: caas_build_info and process_*", async () => {
    const parsed = await page(new Metrics());
    expect(parsed.sample("caas_build_info")).toEqual({ labels: { version: expect.any(String), commit: expect.any(String) }, value: 1 });
    expect(parsed.value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(parsed.value("process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(parsed.value("process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000);
    if (process.platform === "linux") {
      expect(parsed.value("process_open_fds")).toBeGreaterThan(2);
      expect(parsed.value("process_max_fds")).toBeGreaterThanOrEqual(parsed.value("process_open_fds")!);
    }
  });
});

describe("what the app counts", () => {
  const KEY = "standard-key-for-tests-0123456789";

  it("counts errors by code, and requests by the API key's name, never the key", async () => {
    const metrics = new Metrics();
    const app = testApp({ apiKeys: [{ name: "main-server", key: KEY }], metrics });
    const user = { userUUID: README_USER, sensitiveData: "x" };
    expect((await postJson(app, "/encrypt", { ...user, apiKey: KEY })).status).toBe(200);
    expect((await postJson(app, "/encrypt", user, { "x-api-key": KEY })).status).toBe(200);
    expect((await postJson(app, "/encrypt", { ...user, apiKey: "wrong" })).status).toBe(401);
    expect((await postJson(app, "/oracleinvocation", "{not json")).status).toBe(400);
    const text = renderExposition(metrics.snapshot());
    expect(text).not.toContain(KEY);
    const parsed = await parseMetricsPage(text);
    expect(parsed.value("caas_api_key_requests_total", { api_key: "main-server" })).toBe(2);
    expect(parsed.family("caas_api_key_requests_total")?.samples.length).toBe(1);
    expect(parsed.value("caas_errors_total", { code: "unauthorized" })).toBe(1);
    expect(parsed.value("caas_errors_total", { code: "invalid_json" })).toBe(1);
  });

  it("counts keyring versions used: sealed under the newest, opened under the one a ciphertext names", async () => {
    const metrics = new Metrics();
    const apiKeys = ApiKeyStore.fromKeys([{ name: "orders-app", key: KEY, scopes: ["keyring:orders"] }]);
    const old = keyringOf("orders", [1]);
    const credentials = testCredentials({ apiKeys, keyring: old });
    const app = testApp({ credentials, metrics });
    const headers = { authorization: `Bearer ${KEY}` };
    const sealed = (await (await postJson(app, "/keyring/orders/encrypt", { data: "x" }, headers)).json()) as { ciphertext: string };
    // A rotation, as a reload would bring it: version 2 added, version 1 still opens.
    const rotated = keyringOf("orders", [1, 2]);
    credentials.replace({ apiKeys, secrets: credentials.current.secrets, keyring: rotated });
    expect((await postJson(app, "/keyring/orders/encrypt", { data: "y" }, headers)).status).toBe(200);
    // Opened by version 1's key as the rotated keyring holds it: a different random key, so it fails and is not counted.
    expect((await postJson(app, "/keyring/orders/decrypt", { ciphertext: sealed.ciphertext }, headers)).status).toBe(400);
    credentials.replace({ apiKeys, secrets: credentials.current.secrets, keyring: old });
    expect((await postJson(app, "/keyring/orders/decrypt", { ciphertext: sealed.ciphertext }, headers)).status).toBe(200);
    const parsed = await page(metrics);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "1", operation: "encrypt" })).toBe(1);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "2", operation: "encrypt" })).toBe(1);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "1", operation: "decrypt" })).toBe(1);
    expect(parsed.family("caas_keyring_operations_total")?.samples.length).toBe(3);
    expect(parsed.value("caas_errors_total", { code: "authentication_failed" })).toBe(1);
  });

  it("counts each key use the audit line records, from the one event both hear", async () => {
    const metrics = new Metrics();
    const lines: string[] = [];
    const sink = {
      append: (batch: readonly string[], done: (written: number) => void) => {
        lines.push(...batch);
        done(batch.length);
      },
      reopen: () => {},
    };
    const apiKeys = ApiKeyStore.fromKeys([{ name: "orders-app", key: KEY, scopes: ["keyring:orders"] }]);
    // One key's versions 1 and 2, the same key material before and after version 2 is added.
    const ciphers = new Map([1, 2].map((version) => [version, new XaesKey(crypto.getRandomValues(new Uint8Array(32)))]));
    const created = new Date().toISOString();
    const keyringWith = (versions: number[]) =>
      new Keyring([
        new KeyringKey(
          { name: "orders", created, minDecryptionVersion: 1, versions: versions.map((version) => ({ version, created })) },
          new Map(versions.map((version) => [version, ciphers.get(version)!])),
        ),
      ]);
    const credentials = testCredentials({ apiKeys, keyring: keyringWith([1]) });
    const app = testApp({ credentials, metrics, auditTrail: new AuditTrail(sink) });
    const headers = { authorization: `Bearer ${KEY}` };
    const encrypt = async (data: string) =>
      ((await (await postJson(app, "/keyring/orders/encrypt", { data }, headers)).json()) as { ciphertext: string }).ciphertext;
    const older = await encrypt("x");
    credentials.replace({ apiKeys, secrets: credentials.current.secrets, keyring: keyringWith([1, 2]) });
    const newer = await encrypt("y");
    const items = [{ ciphertext: newer }, { ciphertext: older }, { ciphertext: newer }, { ciphertext: "caas:v2:not-a-ciphertext" }];
    expect((await postJson(app, "/keyring/orders/decrypt/batch", { items }, headers)).status).toBe(200);
    const audited = lines.map((line) => JSON.parse(line) as { operation: string; keyVersion?: number; keyVersions?: number[] });
    expect(audited.map((line) => [line.operation, line.keyVersion, line.keyVersions])).toEqual([
      ["keyring.encrypt", 1, undefined],
      ["keyring.encrypt", 2, undefined],
      ["keyring.decrypt_batch", undefined, [1, 2]],
    ]);
    const parsed = await page(metrics);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "1", operation: "encrypt" })).toBe(1);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "2", operation: "encrypt" })).toBe(1);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "2", operation: "decrypt" })).toBe(2);
    expect(parsed.value("caas_keyring_operations_total", { key: "orders", version: "1", operation: "decrypt" })).toBe(1);
  });
});

describe("the pages of several processes, merged", () => {
  function worker(seals: number, inFlight: number, expiry: number): Metrics {
    const metrics = new Metrics();
    metrics.registerRoutes(routeTable("/oracleinvocation"));
    for (let i = 0; i < seals; i++) metrics.observe(metrics.routeIndexOf("/oracleinvocation"), 200, 0.002);
    metrics.inFlight = inFlight;
    metrics.tlsCertificateExpiry = expiry;
    return metrics;
  }

  it("adds counters and histogram buckets, sums in-flight gauges, and keeps the earliest expiry: one series each", async () => {
    const merged = await parseMetricsPage(
      renderExposition(mergeSnapshots([worker(3, 1, 2_000_000_000).snapshot(), worker(4, 2, 1_900_000_000).snapshot()])),
    );
    expect(merged.value("caas_requests_total", { route: "/oracleinvocation", status: "200" })).toBe(7);
    const histogram = merged.sample("caas_request_duration_seconds", { route: "/oracleinvocation" })!;
    expect(histogram.buckets?.["0.0025"]).toBe(7);
    expect(histogram.value).toBe(7);
    expect(merged.value("caas_in_flight_requests")).toBe(3);
    expect(merged.value("caas_tls_certificate_expiry_timestamp_seconds")).toBe(1_900_000_000);
    expect(merged.sample("caas_build_info")?.value).toBe(1);
  });

  it("keeps only the counters and buckets of a process that has exited", async () => {
    const gone = mergeSnapshots([worker(5, 4, 2_000_000_000).snapshot()], { countersOnly: true });
    const parsed = await parseMetricsPage(renderExposition(gone));
    expect(parsed.value("caas_requests_total", { route: "/oracleinvocation", status: "200" })).toBe(5);
    expect(parsed.sample("caas_request_duration_seconds", { route: "/oracleinvocation" })?.value).toBe(5);
    expect(parsed.family("caas_in_flight_requests")).toBeUndefined();
    expect(parsed.family("process_resident_memory_bytes")).toBeUndefined();
    expect(parsed.value("process_cpu_seconds_total")).toBeGreaterThan(0);
  });
});
