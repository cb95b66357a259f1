/**
 * One route table, read from the app once, answers every question about a request's route: the
 * metrics label, the audit operation, a 405's Allow, the probes the rate limit exempts, and the
 * paths the listener routes by target. Held over every route the app declares.
 */
import { describe, expect, it } from "bun:test";
import { routesOf } from "../../src/app.ts";
import fc from "fast-check";
import { Metrics } from "../../src/http/metrics.ts";
import { pathMatchesRoute, RouteMatcher, withoutTrailingSlash } from "../../src/http/paths.ts";
import { testApp } from "./helpers.ts";

/** A path a client would send for a route: each ":param" segment given a value. */
const sentPath = (pattern: string) => pattern.replaceAll(/:[^/]+/g, "orders");

describe("the app's route table", () => {
  const metrics = new Metrics();
  const app = testApp({ metrics });
  const table = routesOf(app);

  it("holds every route the app declares, each method once, each path once", () => {
    const declared = new Set(
      app.routes.map((route) => `${route.method} ${route.path.length > 1 ? route.path.replace(/\/$/, "") : route.path}`),
    );
    const held = new Set(table.routes.flatMap((route) => route.methods.map((method) => `${method} ${route.path}`)));
    expect(held).toEqual(declared);
    expect(new Set(table.paths).size).toBe(table.paths.length);
  });

  it("is what the metrics count each route under, by the route and never the path sent", () => {
    for (const route of table.routes) {
      expect(metrics.routeOf(sentPath(route.path))).toBe(route.path);
      expect(metrics.routeOf(`${sentPath(route.path)}/`)).toBe(route.path);
    }
    expect(metrics.routeOf("/no/such/route")).toBe("unmatched");
  });

  it("names the audit operation of every route that declares an operationId, under its method only", () => {
    for (const declared of app.routes) {
      const operation = declared.hooks.detail?.operationId;
      const route = table.match(sentPath(declared.path));
      expect(route?.operations.get(declared.method)).toBe(operation);
      expect(table.routed(declared.path)?.operations.get(declared.method)).toBe(operation);
    }
    expect(table.routes.some((route) => route.operations.size > 0)).toBe(true);
  });

  it("exempts exactly the operations probes from the rate limit", () => {
    expect([...table.probePaths].sort()).toEqual(["/healthz", "/readyz"]);
  });

  it("answers a 405 with the methods the one table holds for the route", async () => {
    const answer = await app.handle(new Request("http://localhost/keyring/orders/encrypt", { method: "GET" }));
    expect(answer.status).toBe(405);
    expect(answer.headers.get("allow")).toBe(table.match("/keyring/orders/encrypt")?.methods.join(", ") ?? "none");
  });
});

describe("RouteMatcher", () => {
  const app = testApp({ metrics: new Metrics() });
  const patterns = routesOf(app).paths;
  /** The definition the matcher's tree must agree with: the first declared route whose segments match. */
  const firstMatching = (path: string) =>
    new Set(patterns.filter((pattern) => !pattern.includes("/:"))).has(withoutTrailingSlash(path))
      ? withoutTrailingSlash(path)
      : patterns.find((pattern) => pattern.includes("/:") && pathMatchesRoute(pattern, path));
  const matcher = new RouteMatcher<string>();
  for (const pattern of patterns) matcher.add(pattern, pattern);
  // Paths made of the app's own segments, key names, empty segments and dots: near misses as well as hits.
  const segments = [...new Set(patterns.flatMap((pattern) => pattern.split("/")).filter((s) => s !== "" && !s.startsWith(":")))];
  const segment = fc.oneof(fc.constantFrom(...segments), fc.constantFrom("orders", "", ".", "..", "%2e", "a:b"));
  const path = fc.array(segment, { maxLength: 6 }).chain((parts) => fc.constantFrom(`/${parts.join("/")}`, `/${parts.join("/")}/`));

  it("finds for any path the route the linear definition finds", () => {
    fc.assert(
      fc.property(path, (sent) => {
        expect(matcher.match(sent)).toBe(firstMatching(sent));
      }),
      { numRuns: 5_000 },
    );
  });

  it("finds every declared route from a path sent for it, and nothing for a parameter left empty", () => {
    for (const pattern of patterns) expect(matcher.match(sentPath(pattern))).toBe(pattern);
    for (const pattern of patterns.filter((p) => p.includes("/:")))
      expect(matcher.match(pattern.replaceAll(/:[^/]+/g, ""))).toBeUndefined();
  });
});
