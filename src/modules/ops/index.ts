import { Elysia, t } from "elysia";
import { NotReady } from "../../errors.ts";
import { errorAnswers } from "../../http/model.ts";
import { OPERATIONS_TAG } from "../../http/routes.ts";

/** Probes are the GET routes tagged operations (the route table reads them: src/http/routes.ts). */
export { OPERATIONS_TAG };

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
