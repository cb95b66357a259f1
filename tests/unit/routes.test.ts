/**
 * One route table, read from the app once, answers every question about a request's route: the
 * metrics label, the audit operation, a 405's Allow, the probes the rate limit exempts, and the
 * paths the listener routes by target. Held over every route the app declares.
 */
import { describe, expect, it } from "bun:test";
import { routesOf } from "../../src/app.ts";
import { Metrics } from "../../src/http/metrics.ts";
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
