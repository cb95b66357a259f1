/**
 * caas's oracle with its layers taken off one at a time, for `bun run bench` to measure where the
 * time goes by subtraction (a CPU profile cannot see into Bun's native side, which is most of it):
 *   lean    our body reader, sealText and the contract's headers in a bare Bun.serve handler: no
 *           Elysia, no instrumentation (what caas would cost with its framework taken away);
 *   elysia  the same handler as the one route of a bare Elysia app (no schema, hooks or plugins):
 *           what the framework itself costs, below which no Elysia app can go;
 *   app     the whole Elysia app (createApp) as Bun.serve's fetch, without the metrics wrapper.
 * The full stack is dist/caas itself. Listener options are server.ts's.
 * `bun bench/layers.ts --cert C --key K --layer lean|elysia|app`; prints `listening <port>`, stops on SIGTERM.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Elysia } from "elysia";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { CredentialsHolder, loadCredentials } from "../src/credentials/holder.ts";
import { JSON_HEADERS } from "../src/http/headers.ts";
import { readJsonBody } from "../src/http/json-body.ts";
import { silentLogger } from "../src/log.ts";
import { sealText } from "../src/modules/oracle/service.ts";
import { IDLE_TIMEOUT_SECONDS } from "../src/server/bind.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { cert: { type: "string" }, key: { type: "string" }, layer: { type: "string" }, "state-dir": { type: "string" } },
  strict: true,
});
if (values.cert === undefined || values.key === undefined || values["state-dir"] === undefined)
  throw new Error("layers: --cert, --key and --state-dir are required");
const layer = values.layer;
if (layer !== "lean" && layer !== "elysia" && layer !== "app") throw new Error("layers: --layer is lean, elysia or app");

const config = loadConfig({ flags: {}, env: { CAAS_STATE_DIR: values["state-dir"] } });

async function fetchHandler(): Promise<(request: Request) => Response | Promise<Response>> {
  const lean = async (request: Request) => {
    const body = (await readJsonBody(request, config.maxBody)) as { data: string };
    return new Response(JSON.stringify(sealText(body.data)), { headers: JSON_HEADERS });
  };
  if (layer === "lean") return lean;
  if (layer === "elysia") {
    const bare = new Elysia({ normalize: false }).post("/oracleinvocation/", ({ request }) => lean(request), { parse: "none" });
    return bare.fetch;
  }
  const credentials = new CredentialsHolder(await loadCredentials(config, silentLogger));
  return createApp(config, { logger: silentLogger, credentials }).fetch;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  development: false,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  tls: { cert: readFileSync(values.cert, "utf8"), key: readFileSync(values.key, "utf8") },
  fetch: await fetchHandler(),
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
