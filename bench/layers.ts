/**
 * The oracle built up from the bare Elysia app one piece of caas at a time, each piece a server of
 * its own, so `bun run bench -- --buildup` can measure every step's server CPU per request in one
 * sitting (a CPU profile cannot see into Bun's native side, which is most of the time):
 *   ref        the reference: `new Elysia({ normalize: false }).post("/oracleinvocation/", ({ body })
 *              => sealText(body.data), { body: t.Object({ data: t.String() }) })`, Bun's own JSON parser;
 *   headers    + the security headers on every answer (`.headers()`);
 *   request    + the onRequest hook: the answer's request id and the request-target check;
 *   errors     + the onError hook: caas's error answers, audit settlement and counters;
 *   audit      + the audit plugin (each request's RequestAudit, a trail that writes nothing);
 *   parser     + caas's strict body reader (media type, length, budget, UTF-8, depth) as the parse hook;
 *   schema     + caas's own schema, unknown-field check and response schemas;
 *   caller     + the oracle's caller check (its derive: nothing looked up without wrap_with);
 *   app        caas's whole app (createApp: every route), as Bun.serve's fetch;
 *   served     the app as dist/caas serves it: the metrics and rate-limit wrapper, the target check.
 * Listener options are listener.ts's. `bun bench/layers.ts --cert C --key K --state-dir D --layer L`;
 * prints `listening <port>`, stops on SIGTERM. `bun bench/layers.ts --in-process`: every step's
 * CPU per request in this one process, without TLS (measureInProcess).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type AnyElysia, Elysia, t } from "elysia";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { CredentialsHolder, loadCredentials } from "../src/credentials/holder.ts";
import { InvalidTarget } from "../src/errors.ts";
import { Audit, AuditTrail, auditPlugin } from "../src/http/audit.ts";
import { Callers } from "../src/http/caller.ts";
import { errorAnswer } from "../src/http/error-answers.ts";
import { REQUEST_ID_HEADER, SECURITY_HEADERS } from "../src/http/headers.ts";
import { jsonBodyParser } from "../src/http/json-body.ts";
import { Metrics } from "../src/http/metrics.ts";
import { BODY_CODES, errorAnswers, SERVED_CODES } from "../src/http/model.ts";
import { targetProblem } from "../src/http/paths.ts";
import { answeredRequestIdOf, requestIdOf } from "../src/http/request-ids.ts";
import { checkUnknownFields } from "../src/http/unknown-fields.ts";
import { silentLogger } from "../src/log.ts";
import { oracleRoutes } from "../src/modules/oracle/index.ts";
import { OracleAnswer, SEAL_UNKNOWN_FIELDS, SealRequest } from "../src/modules/oracle/model.ts";
import { sealText } from "../src/modules/oracle/service.ts";
import { IDLE_TIMEOUT_SECONDS } from "../src/server/bind.ts";
import { gatedApp } from "../src/server/gated-app.ts";

/** The build-up's steps, in order: each adds one piece to the one before. */
export const BUILDUP = ["ref", "headers", "request", "errors", "audit", "parser", "schema", "caller", "app", "served"] as const;
export type Layer = (typeof BUILDUP)[number];

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    layer: { type: "string" },
    "state-dir": { type: "string" },
    "in-process": { type: "boolean", default: false },
  },
  strict: true,
});
const inProcess = values["in-process"];
const stateDir = values["state-dir"] ?? (inProcess ? mkdtempSync(join(tmpdir(), "caas-layers-")) : undefined);
if (stateDir === undefined || (!inProcess && (values.cert === undefined || values.key === undefined)))
  throw new Error("layers: --cert, --key and --state-dir are required (or --in-process)");

const config = loadConfig({ flags: {}, env: { CAAS_STATE_DIR: stateDir } });

/** The steps before `app`: the one oracle route with as many of caas's pieces as the layer asks for. */
function builtUp(layer: Layer): AnyElysia {
  const upTo = (piece: Layer) => BUILDUP.indexOf(layer) >= BUILDUP.indexOf(piece);
  const audit = new Audit(new AuditTrail());
  const plugin = auditPlugin(audit);
  const parse = jsonBodyParser(config.maxBody);
  const data = t.Object({ data: t.String() });
  // Loosely typed: each step adds to one instance, which Elysia's types cannot follow through an if.
  if (layer === "ref")
    return new Elysia({ normalize: false }).post("/oracleinvocation/", ({ body }) => sealText(body.data), { body: data });
  const app: AnyElysia = new Elysia({ normalize: false });
  if (upTo("headers")) app.headers({ ...SECURITY_HEADERS });
  if (upTo("request"))
    app.onRequest(({ request, set }) => {
      set.headers[REQUEST_ID_HEADER] = answeredRequestIdOf(request);
      const problem = targetProblem(request.url);
      if (problem !== undefined) throw new InvalidTarget(problem);
    });
  if (upTo("errors"))
    app.onError(async ({ code, error, request, route }) => {
      const chosen = errorAnswer(
        { code, error, request },
        { allowedMethods: () => undefined, logger: silentLogger, requestId: requestIdOf(request) },
      );
      return (await audit.settleError({ request, route, facts: undefined, body: undefined }, chosen)).response;
    });
  if (upTo("audit")) app.use(plugin);
  if (upTo("caller")) return app.use(oracleRoutes(parse, { batchMax: config.batchMax, audit: plugin, callers: new Callers() }));
  if (upTo("schema"))
    return app.use(
      new Elysia().post("/oracleinvocation/", ({ body }) => sealText(body.data), {
        parse,
        body: SealRequest,
        beforeHandle: ({ body }) => checkUnknownFields(body, SEAL_UNKNOWN_FIELDS),
        response: { 200: OracleAnswer, ...errorAnswers(...BODY_CODES, ...SERVED_CODES, "invalid_text") },
      }),
    );
  if (upTo("parser")) return app.use(new Elysia().post("/oracleinvocation/", ({ body }) => sealText(body.data), { parse, body: data }));
  return app.use(new Elysia().post("/oracleinvocation/", ({ body }) => sealText(body.data), { body: data }));
}

async function fetchHandler(layer: Layer): Promise<(request: Request) => Response | Promise<Response>> {
  if (BUILDUP.indexOf(layer) < BUILDUP.indexOf("app")) return builtUp(layer).fetch;
  const credentials = new CredentialsHolder(await loadCredentials(config, silentLogger));
  if (layer === "app") return createApp(config, { logger: silentLogger, credentials }).fetch;
  return gatedApp(config, { logger: silentLogger, credentials, metrics: new Metrics() }).handle;
}

/**
 * Every step in this process, no TLS or sockets: the CPU time (process.cpuUsage) of 20,000
 * requests through each step's fetch, in 15 interleaved rounds, medians. Steady within a few tenths
 * of a microsecond where the load run's steps move by one, so it says which piece costs what;
 * the load run says what that comes to over TLS.
 */
async function measureInProcess(): Promise<void> {
  const body = JSON.stringify({ data: "a".repeat(64) });
  const request = () =>
    new Request("https://127.0.0.1/oracleinvocation/", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length) },
      body,
    });
  const handWritten = async (r: Request) => Response.json(sealText(((await r.json()) as { data: string }).data));
  const steps: [string, (r: Request) => Response | Promise<Response>][] = [["hand-written", handWritten]];
  for (const layer of BUILDUP) steps.push([layer, await fetchHandler(layer)]);
  const cpu = new Map<string, number[]>(steps.map(([name]) => [name, []]));
  for (let round = 0; round < 15; round++) {
    for (const [name, handle] of steps) {
      const requests = Array.from({ length: 20_000 }, request);
      for (let i = 0; i < 1_000; i++) await (await handle(request())).arrayBuffer();
      const before = process.cpuUsage();
      for (const r of requests) await (await handle(r)).arrayBuffer();
      const used = process.cpuUsage(before);
      cpu.get(name)?.push((used.user + used.system) / requests.length);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  console.log("| step | CPU µs/request, in process | added µs |\n| --- | --- | --- |");
  let before: number | undefined;
  for (const [name] of steps) {
    const now = median(cpu.get(name) ?? []);
    console.log(`| ${name} | ${now.toFixed(2)} | ${before === undefined || name === "ref" ? "" : (now - before).toFixed(2)} |`);
    if (name !== "hand-written") before = now;
  }
}

if (inProcess) {
  await measureInProcess();
  process.exit(0);
}
const layer = BUILDUP.find((step) => step === values.layer);
if (layer === undefined) throw new Error(`layers: --layer is one of ${BUILDUP.join(", ")}`);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  development: false,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  tls: { cert: readFileSync(values.cert ?? "", "utf8"), key: readFileSync(values.key ?? "", "utf8") },
  fetch: await fetchHandler(layer),
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
