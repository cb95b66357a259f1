import { Elysia, t } from "elysia";
import { NotReady } from "../../errors.ts";
import { errorAnswers } from "../../http/model.ts";
import { withoutTrailingSlash } from "../../http/paths.ts";

/** The OpenAPI tag of the routes load balancers and monitoring call: health and readiness (metrics are on the ops listener). */
export const OPERATIONS_TAG = "operations";

/** What probePaths reads of an app's routes (Elysia's InternalRoute). */
export interface DeclaredRoute {
  readonly method: string;
  readonly path: string;
  readonly hooks: { readonly detail?: { readonly tags?: readonly string[] | undefined } | undefined };
}

/**
 * The paths of every GET route tagged operations, read from the app itself so that a probe
 * added later is exempt from the rate limit without anyone remembering to list it.
 */
export function probePaths(routes: readonly DeclaredRoute[]): Set<string> {
  const paths = new Set<string>();
  for (const route of routes) {
    if (route.method === "GET" && route.hooks.detail?.tags?.includes(OPERATIONS_TAG) === true) paths.add(withoutTrailingSlash(route.path));
  }
  return paths;
}

export const HealthAnswer = t.Object({ status: t.Literal("ok") }, { title: "HealthAnswer" });
const ReadyAnswer = t.Object({ status: t.Literal("ready") }, { title: "ReadyAnswer" });

export function healthRoutes() {
  return new Elysia({ name: "caas.health" }).get("/healthz", () => ({ status: "ok" as const }), {
    response: { 200: HealthAnswer },
    detail: { tags: [OPERATIONS_TAG], summary: "Liveness: the process answers" },
  });
}

export interface OperationsDeps {
  /** False while credentials are missing or the process is draining, so load balancers stop sending. */
  readonly isReady: () => boolean;
}

export function operationsRoutes(deps: OperationsDeps) {
  return new Elysia({ name: "caas.operations" }).get(
    "/readyz",
    () => {
      if (!deps.isReady()) throw new NotReady();
      return { status: "ready" as const };
    },
    {
      response: { 200: ReadyAnswer, ...errorAnswers("not_ready") },
      detail: { tags: [OPERATIONS_TAG], summary: "Readiness: secret and keys loaded, not draining" },
    },
  );
}
