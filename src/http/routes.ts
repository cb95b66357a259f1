/**
 * The app's routes, read once from the app when it is built: what the metrics count a request
 * under, which operation the audit trail names, which methods a 405 allows, which paths are
 * probes the rate limit never charges, and which paths the listener routes by target. Each of
 * those asks this one table instead of deriving its own from the app.
 */
import { RouteMatcher, withoutTrailingSlash } from "./paths.ts";

/** The OpenAPI tag of the routes load balancers and monitoring call: GET routes with it are probes. */
export const OPERATIONS_TAG = "operations";

/** What the table reads of an app's routes (Elysia's InternalRoute). */
export interface DeclaredRoute {
  readonly method: string;
  readonly path: string;
  readonly hooks: {
    readonly detail?: { readonly operationId?: string | undefined; readonly tags?: readonly string[] | undefined } | undefined;
  };
}

/** One path of the app (without its trailing slash), whatever methods it answers. */
export interface Route {
  /** As declared, ":name" segments and all: the metrics label. */
  readonly path: string;
  /** Its slot in the metrics' arrays; 0 is for requests to no route. */
  readonly index: number;
  readonly methods: readonly string[];
  /** The audit trail's name for a request of each audited method (its OpenAPI operationId). */
  readonly operations: ReadonlyMap<string, string>;
}

export class RouteTable {
  readonly routes: readonly Route[];
  /** The paths of GET routes tagged operations (health, readiness): never rate limited. */
  readonly probePaths: ReadonlySet<string>;
  readonly #matcher = new RouteMatcher<Route>();
  /** By the pattern Elysia names a routed request's route with, with and without its trailing slash. */
  readonly #byPattern = new Map<string, Route>();

  constructor(declared: readonly DeclaredRoute[]) {
    const byPath = new Map<string, { methods: string[]; operations: Map<string, string> }>();
    const probes = new Set<string>();
    for (const route of declared) {
      const path = withoutTrailingSlash(route.path);
      let entry = byPath.get(path);
      if (entry === undefined) {
        entry = { methods: [], operations: new Map() };
        byPath.set(path, entry);
      }
      if (!entry.methods.includes(route.method)) entry.methods.push(route.method);
      const operation = route.hooks.detail?.operationId;
      if (operation !== undefined) entry.operations.set(route.method, operation);
      if (route.method === "GET" && route.hooks.detail?.tags?.includes(OPERATIONS_TAG) === true) probes.add(path);
    }
    const routes: Route[] = [];
    for (const [path, entry] of byPath) {
      const route: Route = { path, index: routes.length + 1, ...entry };
      routes.push(route);
      this.#matcher.add(path, route);
      this.#byPattern.set(path, route);
      this.#byPattern.set(`${path}/`, route);
    }
    this.routes = routes;
    this.probePaths = probes;
  }

  /** The route a request path is (":name" segments match any one segment), or undefined. */
  match(path: string): Route | undefined {
    return this.#matcher.match(path);
  }

  /** The route Elysia routed a request to, by the pattern it names (context.route): one Map lookup. */
  routed(pattern: string): Route | undefined {
    return this.#byPattern.get(pattern);
  }

  /** Every path as declared, without its trailing slash. */
  get paths(): string[] {
    return this.routes.map((route) => route.path);
  }
}
