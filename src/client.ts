/**
 * The types entry point for clients: `import type { App } from "caas/client"` and hand it to Eden
 * Treaty (`treaty<App>(url)`). package.json exports it as declarations alone (dist/types, made by
 * `bun run build:client-types`, which `bun pm pack` runs), so a consumer's compiler reads caas's
 * route types and never its sources, Bun-only imports or dev dependencies.
 */
export type { CaasApp as App } from "./app.ts";
