/**
 * The client's address behind HTTP proxies: X-Forwarded-For is believed only from a peer that
 * CAAS_TRUSTED_PROXIES lists, read from its right end, and every consumer of the address (the
 * audit line's `client`, the per-client rate-limit bucket) gets the same answer. Driven through
 * gatedApp, the composition the API listener serves; only the peer's address, which Bun's
 * listener would give, is supplied by the test.
 */
import { describe, expect, it } from "bun:test";
import { main } from "../../src/main.ts";
import { defaultConfig } from "../../src/config.ts";
import type { Appender } from "../../src/files/append-file.ts";
import { AuditTrail } from "../../src/http/audit.ts";
import { Metrics } from "../../src/http/metrics.ts";
import { silentLogger } from "../../src/log.ts";
import { gatedApp } from "../../src/server/gated-app.ts";
import { EXIT_CONFIG } from "../../src/cli/io.ts";
import { runCommand, testCredentials } from "./helpers.ts";

class MemorySink implements Appender {
  readonly lines: string[] = [];
  append(lines: readonly string[], done: (written: number) => void): void {
    this.lines.push(lines.join(""));
    done(lines.length);
  }
  reopen(): void {}
  clients(): unknown[] {
    return this.lines
      .flatMap((batch) => batch.split("\n").filter(Boolean))
      .map((line) => (JSON.parse(line) as { client?: unknown }).client);
  }
}

const TRUSTED = "10.0.0.0/8, 2001:db8:ffff::/48";
/** The peer's address, as the listener would see it, travels with the test's request in this header. */
const PEER = "x-test-peer";

/** A server with a rate of 1 a second, so a second request in the same bucket is 429. */
function server(trustedProxies: string | undefined) {
  const sink = new MemorySink();
  const { handle } = gatedApp(defaultConfig({ rateLimit: 1, trustedProxies }), {
    logger: silentLogger,
    credentials: testCredentials(),
    metrics: new Metrics(),
    auditTrail: new AuditTrail(sink),
    clientAddress: (request) => request.headers.get(PEER) ?? undefined,
  });
  const seal = (headers: [string, string][]) =>
    handle(
      new Request("https://caas.test/oracleinvocation", {
        method: "POST",
        headers: [["content-type", "application/json"], ...headers],
        body: JSON.stringify({ data: "attack at dawn" }),
      }),
    );
  return { sink, seal };
}

interface Case {
  readonly name: string;
  readonly trusted?: string;
  readonly peer: string;
  readonly forwarded?: readonly string[];
  readonly client: string;
}

const CASES: readonly Case[] = [
  { name: "no trusted proxies: the header is ignored", trusted: "", peer: "10.0.0.1", forwarded: ["203.0.113.7"], client: "10.0.0.1" },
  { name: "a peer that is not listed: the header is ignored", peer: "198.51.100.9", forwarded: ["203.0.113.7"], client: "198.51.100.9" },
  { name: "a trusted peer without the header", peer: "10.0.0.1", client: "10.0.0.1" },
  { name: "a trusted peer: the entry it appended", peer: "10.0.0.1", forwarded: ["203.0.113.7"], client: "203.0.113.7" },
  {
    name: "what the client wrote left of it is not believed",
    peer: "10.0.0.1",
    forwarded: ["1.1.1.1, 203.0.113.7"],
    client: "203.0.113.7",
  },
  { name: "two trusted proxies in a row", peer: "10.0.0.1", forwarded: ["203.0.113.7, 10.0.0.2"], client: "203.0.113.7" },
  { name: "every hop trusted: the first", peer: "10.0.0.1", forwarded: ["10.0.0.3, 10.0.0.2"], client: "10.0.0.3" },
  { name: "two header lines, read as one list", peer: "10.0.0.1", forwarded: ["1.1.1.1", "203.0.113.7"], client: "203.0.113.7" },
  {
    name: "an entry that is no address: the nearest trusted hop",
    peer: "10.0.0.1",
    forwarded: ["203.0.113.7, nonsense"],
    client: "10.0.0.1",
  },
  { name: "an empty header", peer: "10.0.0.1", forwarded: [""], client: "10.0.0.1" },
  { name: "an IPv4 entry with a port", peer: "10.0.0.1", forwarded: ["203.0.113.7:4711"], client: "203.0.113.7" },
  { name: "an IPv4-mapped peer", peer: "::ffff:10.0.0.1", forwarded: ["203.0.113.7"], client: "203.0.113.7" },
  { name: "an IPv6 proxy and client", peer: "2001:db8:ffff::1", forwarded: ["2001:db8:1::5"], client: "2001:db8:1::5" },
  { name: "a bracketed IPv6 entry with a port", peer: "2001:db8:ffff::1", forwarded: ["[2001:db8:1::5]:4711"], client: "2001:db8:1::5" },
  { name: "an IPv6 peer outside the list", peer: "2001:db8:fffe::1", forwarded: ["203.0.113.7"], client: "2001:db8:fffe::1" },
];

describe("the client's address, behind CAAS_TRUSTED_PROXIES", () => {
  for (const { name, trusted = TRUSTED, peer, forwarded = [], client } of CASES) {
    it(`is ${client}: ${name}`, async () => {
      const { sink, seal } = server(trusted === "" ? undefined : trusted);
      const first = await seal([[PEER, peer], ...forwarded.map((value): [string, string] => ["x-forwarded-for", value])]);
      expect(first.status).toBe(200);
      // The audit line names the client.
      expect(sink.clients()).toEqual([client]);
      // The rate limit counted it in the client's bucket: the client itself, asking directly, has none left.
      const direct = await seal([[PEER, client]]);
      expect(direct.status).toBe(429);
    });
  }
});

describe("CAAS_TRUSTED_PROXIES", () => {
  for (const value of ["10.0.0.0/33", "::1/129", "10.0.0.1/", "10.0.0.0/8/1", "proxy.internal", "10.0.0.0/8,,10.0.0.1", "10.0.0.0/-1"]) {
    it(`refuses '${value}' at start, exit 78 naming the setting`, async () => {
      const run = await runCommand(main, ["serve", "--check"], { CAAS_TRUSTED_PROXIES: value, CAAS_STATE_DIR: "/nonexistent" });
      expect(run.code).toBe(EXIT_CONFIG);
      expect(run.err.join("\n")).toContain("CAAS_TRUSTED_PROXIES: '");
    });
  }
});
