import { Elysia, t } from "elysia";
import { NotReady } from "../../http/errors.ts";
import { ErrorAnswer } from "../../http/model.ts";
import type { Metrics } from "./metrics.ts";

export const HealthAnswer = t.Object({ status: t.Literal("ok") });

export function healthRoutes() {
  return new Elysia({ name: "caas.health" }).get("/healthz", () => ({ status: "ok" as const }), {
    response: { 200: HealthAnswer },
    detail: { tags: ["operations"], summary: "Liveness: the process answers" },
  });
}

export interface OperationsDeps {
  readonly metrics: Metrics;
  /** False while credentials are missing or the process is draining, so load balancers stop sending. */
  readonly isReady: () => boolean;
}

export function operationsRoutes(deps: OperationsDeps) {
  return new Elysia({ name: "caas.operations" })
    .get(
      "/readyz",
      () => {
        if (!deps.isReady()) throw new NotReady();
        return { status: "ready" as const };
      },
      {
        response: { 200: t.Object({ status: t.Literal("ready") }), 503: ErrorAnswer },
        detail: { tags: ["operations"], summary: "Readiness: secret and keys loaded, not draining" },
      },
    )
    .get(
      "/metrics",
      ({ set }) => {
        set.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
        return deps.metrics.render();
      },
      { detail: { tags: ["operations"], summary: "Prometheus metrics of this worker" } },
    );
}
