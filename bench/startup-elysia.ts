/**
 * The Elysia floor of `bun run bench:startup`: the reference Elysia app (one schema-checked route,
 * as bench/layers.ts's `ref`) and /healthz, served over TLS by Bun.serve as caas serves its app,
 * compiled as dist/caas is. What Bun and the framework cost to start before caas adds anything.
 */
import { readFileSync } from "node:fs";
import { Elysia, t } from "elysia";

const env = process.env;
const app = new Elysia({ normalize: false })
  .get("/healthz", () => ({ status: "ok" }))
  .post("/oracleinvocation/", ({ body }) => ({ data: body.data }), { body: t.Object({ data: t.String() }) });
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(env.CAAS_PORT),
  tls: { cert: readFileSync(env.CAAS_TLS_CERT ?? "", "utf8"), key: readFileSync(env.CAAS_TLS_KEY ?? "", "utf8") },
  fetch: app.fetch,
});
