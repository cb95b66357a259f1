import { Elysia, t } from "elysia";

export const HealthAnswer = t.Object({ status: t.Literal("ok") });

export function healthRoutes() {
  return new Elysia({ name: "caas.health" }).get("/healthz", () => ({ status: "ok" as const }), {
    response: { 200: HealthAnswer },
    detail: { tags: ["operations"], summary: "Liveness: the process answers" },
  });
}
