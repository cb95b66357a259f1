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
 * `--route encrypt` builds POST /encrypt up the same way (KEYED_BUILDUPS), from a bare Elysia app
 * answering one HMAC-SHA256 under a fixed key, as the hand-written HMAC server does:
 *   ref        bare Elysia, t.Object({ userUUID, sensitiveData }), the fixed-key HMAC;
 *   plumbing   + caas's plumbing, every piece the oracle's steps add from headers to the body reader;
 *   key        + the caller: the Bearer key hashed and looked up (Callers.authenticate), noted for the audit;
 *   pseudonym  + the pseudonym itself instead of the fixed-key HMAC: the UUID's canonical form, the
 *              user's algorithm, salt and key from the memo (derived on a miss), the pool HMAC, hex;
 *   module     caas's pseudonym module (its derive and scope check, schemas, four routes) in its place;
 *   app, served as for the oracle.
 * `--route keyring` builds POST /keyring/{name}/encrypt up from a bare Elysia app sealing with
 * AES-256-GCM under a fixed key and a random nonce (base64 of nonce ‖ ciphertext ‖ tag):
 *   ref        that app;   xaes  + XAES-256-GCM's per-message key derivation instead (XaesKey.seal);
 *   framing    + the keyring's ciphertext: the key's name and version as associated data, `caas:vN:`;
 *   plumbing, key (Callers.forKeyring: key lookup, scope, keyring lookup), module (the keyring's
 *   routes: guard, observed key use, schemas), app, served.
 * The keyed routes use one in-memory API key (BENCH_API_KEY, scopes pseudonym and keyring:bench)
 * and keyring key "bench". `--route encrypt-spread` is /encrypt for 10,000 users in turn (in process).
 * Listener options are listener.ts's. `bun bench/layers.ts --cert C --key K --state-dir D --layer L
 * [--route R]`; prints `listening <port>`, stops on SIGTERM. `bun bench/layers.ts --in-process
 * [--route R]`: every step's CPU per request in this one process, without TLS (measureInProcess).
 */
import { createCipheriv } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { type AnyElysia, Elysia, t } from "elysia";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { ApiKeyStore } from "../src/credentials/api-keys.ts";
import { CredentialsHolder, loadCredentials } from "../src/credentials/holder.ts";
import { cipherOf, Keyring, KeyringKey, observedKey } from "../src/credentials/keyring.ts";
import { makeSecretRing, newSecretVersion } from "../src/credentials/secret-ring.ts";
import { encodeUtf8 } from "../src/crypto/encoding.ts";
import { randomXaesNonce, XaesKey } from "../src/crypto/xaes.ts";
import { InvalidBody, InvalidTarget, RequestError } from "../src/errors.ts";
import { Audit, AuditTrail, auditPlugin, RequestAudit } from "../src/http/audit.ts";
import { Callers } from "../src/http/caller.ts";
import { answerFor, errorAnswer } from "../src/http/error-answers.ts";
import { JSON_HEADERS, REQUEST_ID_HEADER, SECURITY_HEADERS } from "../src/http/headers.ts";
import { jsonBodyParser } from "../src/http/json-body.ts";
import { Metrics } from "../src/http/metrics.ts";
import { BODY_CODES, errorAnswers, SERVED_CODES } from "../src/http/model.ts";
import { pathOf, targetProblem } from "../src/http/paths.ts";
import { RouteTable } from "../src/http/routes.ts";
import { BodyBudget } from "../src/http/body-budget.ts";
import { answeredRequestIdOf, requestIdOf } from "../src/http/request-ids.ts";
import { checkUnknownFields } from "../src/http/unknown-fields.ts";
import { silentLogger } from "../src/log.ts";
import { keyringRoutes } from "../src/modules/keyring/index.ts";
import { EncryptRequest, SealedAnswer } from "../src/modules/keyring/model.ts";
import { encryptWith } from "../src/modules/keyring/service.ts";
import { oracleRoutes } from "../src/modules/oracle/index.ts";
import { OracleAnswer, SEAL_UNKNOWN_FIELDS, SealRequest } from "../src/modules/oracle/model.ts";
import { sealText } from "../src/modules/oracle/service.ts";
import { pseudonymRoutes } from "../src/modules/pseudonym/index.ts";
import { PseudonymMemo, pseudonymFor } from "../src/modules/pseudonym/profiles/standard.ts";
import { README_USER } from "../support/constants.ts";
import {
  BENCH_API_KEY,
  BUILDUP,
  BUILDUP_PATHS,
  BUILDUP_ROUTES,
  ANSWER_HEADER_FORMS,
  type AnswerHeaderForm,
  BY_HAND_PIECES,
  type BuildupRoute,
  type ByHandPiece,
  drivesOracle,
  KEYED_BUILDUPS,
  type Layer,
  reaches,
  stepsOf,
} from "./buildup.ts";
import { IDLE_TIMEOUT_SECONDS } from "../src/server/bind.ts";
import { gatedApp } from "../src/server/gated-app.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    layer: { type: "string" },
    route: { type: "string", default: "oracle" },
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
const route = BUILDUP_ROUTES.find((name) => name === values.route);
if (route === undefined) throw new Error(`layers: --route is one of ${BUILDUP_ROUTES.join(", ")}`);

/** app.ts's onRequest on `app`: the answer's request id, and a target caas refuses thrown before routing. */
function withRequestHook(app: AnyElysia): AnyElysia {
  return app.onRequest(({ request, set }) => {
    set.headers[REQUEST_ID_HEADER] = answeredRequestIdOf(request);
    const problem = targetProblem(request.url);
    if (problem !== undefined) throw new InvalidTarget(problem);
  });
}

/** app.ts's onError on `app`, without its log lines and counters: caas's error answer, settled with the audit trail. */
function withErrorHook(app: AnyElysia, audit: Audit): AnyElysia {
  return app.onError(async ({ code, error, request, route }) => {
    const chosen = errorAnswer(
      { code, error, request },
      { allowedMethods: () => undefined, logger: silentLogger, requestId: requestIdOf(request) },
    );
    return (await audit.settleError({ request, route, facts: undefined, body: undefined }, chosen)).response;
  });
}

/** The steps before `app`: the one oracle route with as many of caas's pieces as the layer asks for. */
function builtUp(layer: Layer): AnyElysia {
  const steps: readonly Layer[] = BUILDUP;
  const upTo = (piece: Layer) => steps.indexOf(layer) >= steps.indexOf(piece);
  const audit = new Audit(new AuditTrail());
  const plugin = auditPlugin(audit);
  const parse = jsonBodyParser(config.maxBody);
  const data = t.Object({ data: t.String() });
  // Loosely typed: each step adds to one instance, which Elysia's types cannot follow through an if.
  if (layer === "ref")
    return new Elysia({ normalize: false }).post("/oracleinvocation/", ({ body }) => sealText(body.data), { body: data });
  const app: AnyElysia = new Elysia({ normalize: false });
  if (upTo("headers")) app.headers({ ...SECURITY_HEADERS });
  if (upTo("request")) withRequestHook(app);
  if (upTo("errors")) withErrorHook(app, audit);
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

/** caas's plumbing, every piece the oracle's steps add before its route (headers, request, errors, audit). */
function plumbed(audit: Audit): AnyElysia {
  return withErrorHook(withRequestHook(new Elysia({ normalize: false }).headers({ ...SECURITY_HEADERS })), audit).use(auditPlugin(audit));
}

/** The keyed routes' credentials: BENCH_API_KEY, one secret version, keyring key "bench" (XAES-256-GCM, one version). */
function keyedCredentials(): CredentialsHolder {
  const created = new Date().toISOString();
  const info = { name: "bench", created, minDecryptionVersion: 1, versions: [{ version: 1, created }] };
  const bench = new KeyringKey(info, new Map([[1, new XaesKey(crypto.getRandomValues(new Uint8Array(32)))]]));
  return new CredentialsHolder({
    apiKeys: ApiKeyStore.fromKeys([{ name: "bench", key: BENCH_API_KEY, scopes: ["pseudonym", "keyring:bench"] }]),
    secrets: makeSecretRing([newSecretVersion(1)]),
    keyring: new Keyring([bench]),
  });
}

// BENCH FIXTURE, not a secret: the fixed keys of the keyed build-ups' first steps, as in bench/baseline.ts.
const FIXED_KEY = new Uint8Array(32).fill(7);

/** What the hand-written HMAC server answers: one HMAC-SHA256 of the data under a fixed key, in hex. */
function fixedDigest(data: string) {
  return { encrypted_data: new Bun.CryptoHasher("sha256", FIXED_KEY).update(data).digest("hex"), version: 1 };
}

/** AES-256-GCM under a fixed key and a random 96-bit nonce, answered as the keyring answers: base64 of nonce ‖ ciphertext ‖ tag. */
function fixedSeal(data: string) {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const cipher = createCipheriv("aes-256-gcm", FIXED_KEY, nonce);
  const body = cipher.update(encodeUtf8(data));
  cipher.final();
  const joined = new Uint8Array(12 + body.length + 16);
  joined.set(nonce, 0);
  joined.set(body, 12);
  joined.set(cipher.getAuthTag(), 12 + body.length);
  return { ciphertext: joined.toBase64(), version: 1 };
}

const fixedXaes = new XaesKey(FIXED_KEY);

/** The same with XAES-256-GCM: its per-message key derivation, no associated data, no prefix. */
function xaesSeal(data: string) {
  const nonce = randomXaesNonce();
  const sealed = fixedXaes.seal(nonce, encodeUtf8(data));
  const joined = new Uint8Array(nonce.length + sealed.length);
  joined.set(nonce, 0);
  joined.set(sealed, nonce.length);
  return { ciphertext: joined.toBase64(), version: 1 };
}

/** /encrypt's steps before `app`. */
function encryptBuiltUp(layer: Layer, credentials: CredentialsHolder): AnyElysia {
  const steps: readonly Layer[] = KEYED_BUILDUPS.encrypt;
  const upTo = (piece: Layer) => steps.indexOf(layer) >= steps.indexOf(piece);
  const body = t.Object({ userUUID: t.String(), sensitiveData: t.String() });
  if (layer === "ref") return new Elysia({ normalize: false }).post("/encrypt", ({ body }) => fixedDigest(body.sensitiveData), { body });
  const audit = new Audit(new AuditTrail());
  const app = plumbed(audit);
  const parse = jsonBodyParser(config.maxBody, { mediaTypes: "any" });
  const callers = new Callers();
  if (upTo("module"))
    return app.use(
      pseudonymRoutes(parse, {
        credentials,
        callers,
        batchMax: config.batchMax,
        cacheUsers: config.pseudonymCacheUsers,
        audit: auditPlugin(audit),
      }),
    );
  const memo = new PseudonymMemo(config.pseudonymCacheUsers);
  const answer = upTo("pseudonym")
    ? (b: typeof body.static) => {
        const { digest, version } = pseudonymFor(credentials.current.secrets, b.userUUID, b.sensitiveData, memo);
        return { encrypted_data: digest, version };
      }
    : (b: typeof body.static) => fixedDigest(b.sensitiveData);
  if (upTo("key"))
    app.use(
      new Elysia().use(auditPlugin(audit)).derive({ as: "global" }, ({ request, body: raw, audit: facts }) => {
        const caller = callers.authenticate(credentials.current.apiKeys, request, raw);
        facts.note({ apiKeyName: caller.name });
        return { caller };
      }),
    );
  return app.use(new Elysia().post("/encrypt", ({ body }) => answer(body), { parse, body }));
}

/** /keyring/{name}/encrypt's steps before `app`. */
function keyringBuiltUp(layer: Layer, credentials: CredentialsHolder): AnyElysia {
  const steps: readonly Layer[] = KEYED_BUILDUPS.keyring;
  const upTo = (piece: Layer) => steps.indexOf(layer) >= steps.indexOf(piece);
  const body = t.Object({ data: t.String() });
  const path = "/keyring/:name/encrypt";
  const key = credentials.current.keyring.get("bench");
  if (!(key instanceof KeyringKey)) throw new Error("layers: keyring key bench is missing");
  const seal = upTo("framing") ? (data: string) => key.seal(encodeUtf8(data)) : upTo("xaes") ? xaesSeal : fixedSeal;
  if (!upTo("plumbing")) return new Elysia({ normalize: false }).post(path, ({ body }) => seal(body.data), { body });
  const audit = new Audit(new AuditTrail());
  const app = plumbed(audit);
  const parse = jsonBodyParser(config.maxBody);
  const callers = new Callers();
  if (upTo("module")) return app.use(keyringRoutes(parse, { credentials, callers, batchMax: config.batchMax, audit: auditPlugin(audit) }));
  if (upTo("key"))
    app.use(
      new Elysia().use(auditPlugin(audit)).derive({ as: "global" }, ({ request, params, audit: facts }) => {
        const name = (params as Readonly<Record<string, string | undefined>>).name;
        return callers.forKeyring(credentials, { request, name, operation: "encrypt", audit: facts });
      }),
    );
  return app.use(new Elysia().post(path, ({ body }) => seal(body.data), { parse, body }));
}

/** What a by-hand route does with a request's checked body: the answer, from caas's own functions. */
type ByHandWork<Body> = (body: Body, request: Request, audit: RequestAudit) => unknown;

/**
 * caas's per-request work with no framework: a plain fetch function doing, by caas's own
 * functions, what the served route does for each request (the `by-hand` step): the in-flight
 * gauge, the request-target check, the request id, a RequestAudit, caas's strict body reader under
 * the body budget, the TypeBox check of the body (compiled once, as Elysia compiles it), the
 * route's work, the check of the answer against its schema, the answer with caas's headers, and the
 * route's metrics. What it costs beside the hand-written server is what caas's work costs; what
 * `served` costs beside it is what building that work from Elysia's lifecycle costs.
 * `upTo` stops the pieces at one of BY_HAND_PIECES (`--route oracle-by-hand`), from `plain`, the
 * hand-written oracle's work in this process, to `metrics`, the whole by-hand step; `headersIn`
 * gives Bun the answer's headers as a plain object (as Elysia does), a copy of a `Headers` made
 * once, or a list of pairs.
 */
function byHand<Body>(
  path: string,
  schemas: { readonly body: Parameters<typeof TypeCompiler.Compile>[0]; readonly answer: Parameters<typeof TypeCompiler.Compile>[0] },
  work: ByHandWork<Body>,
  upTo: ByHandPiece = "metrics",
  headersIn: "object" | AnswerHeaderForm = "object",
): (request: Request) => Promise<Response> {
  const has = (piece: ByHandPiece) => reaches(upTo, piece);
  const [target, requestId, reader, schema, answerHeaders, audited, metered] = (
    ["target", "request-id", "reader", "schema", "answer-headers", "audit", "metrics"] as const
  ).map(has);
  const metrics = new Metrics();
  metrics.registerRoutes(new RouteTable([{ method: "POST", path, hooks: {} }]));
  const audit = new Audit(new AuditTrail(), { subscribers: { onKeyUse: metrics.keyUse } });
  const parse = jsonBodyParser(config.maxBody, { budget: new BodyBudget(config.maxBodyInFlight) });
  const bodyCheck = TypeCompiler.Compile(schemas.body);
  const answerCheck = TypeCompiler.Compile(schemas.answer);
  const fixedHeaders = new Headers(JSON_HEADERS);
  const fixedEntries = Object.entries(JSON_HEADERS);
  const answerHeadersOf = (id: string): Headers | Record<string, string> | [string, string][] => {
    if (headersIn === "object") return { ...JSON_HEADERS, [REQUEST_ID_HEADER]: id };
    if (headersIn === "headers-entries") return [...fixedEntries, [REQUEST_ID_HEADER, id]];
    const headers = new Headers(fixedHeaders);
    headers.set(REQUEST_ID_HEADER, id);
    return headers;
  };
  // Before the audit piece every request shares one RequestAudit, so that piece is what one per request costs.
  const shared = new RequestAudit(audit.subscribers);
  const respond = async (request: Request): Promise<Response> => {
    const id = requestId ? answeredRequestIdOf(request) : "";
    if (target) {
      const problem = targetProblem(request.url);
      if (problem !== undefined) throw new InvalidTarget(problem);
    }
    const facts = audited ? new RequestAudit(audit.subscribers) : shared;
    const body: unknown = reader ? await parse({ request }) : await request.json();
    if (schema && !bodyCheck.Check(body)) throw new InvalidBody("The request body does not match this endpoint's schema.");
    const answered = work(body as Body, request, facts);
    if (schema && !answerCheck.Check(answered)) throw new Error("by-hand: an answer its schema refuses");
    if (!answerHeaders) return Response.json(answered);
    return new Response(JSON.stringify(answered), { headers: answerHeadersOf(id) });
  };
  const answer = !audited
    ? respond
    : async (request: Request): Promise<Response> => {
        try {
          return await respond(request);
        } catch (error) {
          if (error instanceof RequestError) return answerFor(error);
          throw error;
        }
      };
  if (!metered) return answer;
  return async (request) => {
    const started = performance.now();
    metrics.inFlight += 1;
    const response = await answer(request);
    metrics.inFlight -= 1;
    metrics.observe(metrics.routeIndexOf(pathOf(request.url)), response.status, (performance.now() - started) / 1000);
    return response;
  };
}

/** Each route's by-hand step (byHand): the oracle's seal; the keyring's caller check, key lookup and seal. */
function byHandFor(
  on: BuildupRoute,
  credentials: CredentialsHolder | undefined,
  upTo: ByHandPiece = "metrics",
  headersIn: "object" | AnswerHeaderForm = "object",
): (request: Request) => Promise<Response> {
  if (drivesOracle(on))
    return byHand<typeof SealRequest.static>(
      "/oracleinvocation",
      { body: SealRequest, answer: OracleAnswer },
      (body) => {
        if (reaches(upTo, "schema")) checkUnknownFields(body, SEAL_UNKNOWN_FIELDS);
        return sealText(body.data, body.aad);
      },
      upTo,
      headersIn,
    );
  if (on !== "keyring" || credentials === undefined) throw new Error(`layers: no by-hand step for route ${on}`);
  const callers = new Callers();
  return byHand<EncryptRequest>("/keyring/:name/encrypt", { body: EncryptRequest, answer: SealedAnswer }, (body, request, audit) => {
    // The key name as the path has it: "/keyring/" is 9 characters, and the route is NAME/encrypt.
    const path = pathOf(request.url);
    const name = path.slice(9, path.indexOf("/", 9));
    const found = callers.forKeyring(credentials, { request, name, operation: "encrypt", audit });
    const cipher = observedKey(cipherOf(found.key, "encrypt"), (keyName, version, used) => audit.keyUsed(keyName, version, used));
    return encryptWith(cipher, body);
  });
}

async function fetchHandler(layer: Layer, on: BuildupRoute): Promise<(request: Request) => Response | Promise<Response>> {
  const steps = stepsOf(on);
  if (!steps.includes(layer)) throw new Error(`layers: route ${on} has no step ${layer}`);
  const piece = BY_HAND_PIECES.find((name) => name === layer);
  if (piece !== undefined) return byHandFor(on, undefined, piece);
  const form = ANSWER_HEADER_FORMS.find((name) => name === layer);
  if (form !== undefined) return byHandFor(on, undefined, "metrics", form);
  const keyed = on === "oracle" ? undefined : keyedCredentials();
  if (layer === "by-hand") return byHandFor(on, keyed);
  if (steps.indexOf(layer) < steps.indexOf("app")) {
    if (keyed === undefined) return builtUp(layer).fetch;
    return (on === "keyring" ? keyringBuiltUp(layer, keyed) : encryptBuiltUp(layer, keyed)).fetch;
  }
  const credentials = keyed ?? new CredentialsHolder(await loadCredentials(config, silentLogger));
  if (layer === "app") return createApp(config, { logger: silentLogger, credentials }).fetch;
  return gatedApp(config, { logger: silentLogger, credentials, metrics: new Metrics() }).handle;
}

/** The hand-written server each route's build-up starts beside, in process: bench/baseline.ts's work, without TLS. */
function handWrittenFor(on: BuildupRoute): (request: Request) => Promise<Response> {
  if (drivesOracle(on)) return async (r) => Response.json(sealText(((await r.json()) as { data: string }).data));
  if (on === "keyring") return async (r) => Response.json(fixedSeal(((await r.json()) as { data: string }).data));
  return async (r) => Response.json(fixedDigest(((await r.json()) as { sensitiveData: string }).sensitiveData));
}

/** The bodies each route's build-up is driven with, in turn: one, or 10,000 users' for encrypt-spread. */
function bodiesFor(on: BuildupRoute): readonly string[] {
  const text = "a".repeat(64);
  if (drivesOracle(on) || on === "keyring") return [JSON.stringify({ data: text })];
  const users = on === "encrypt" ? [README_USER] : Array.from({ length: 10_000 }, () => crypto.randomUUID());
  return users.map((userUUID) => JSON.stringify({ userUUID, sensitiveData: text }));
}

/**
 * Every step in this process, no TLS or sockets: the CPU time (process.cpuUsage) of 20,000
 * requests through each step's fetch, in 15 interleaved rounds, medians. Steady within a few tenths
 * of a microsecond where the load run's steps move by one, so it says which piece costs what;
 * the load run says what that comes to over TLS.
 */
async function measureInProcess(on: BuildupRoute): Promise<void> {
  const bodies = bodiesFor(on);
  let next = 0;
  const headers: Record<string, string> = drivesOracle(on) ? {} : { authorization: `Bearer ${BENCH_API_KEY}` };
  const request = () => {
    const body = bodies[next++ % bodies.length] ?? "";
    return new Request(`https://127.0.0.1${BUILDUP_PATHS[on]}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length), ...headers },
      body,
    });
  };
  const steps: [string, (r: Request) => Response | Promise<Response>][] = [["hand-written", handWrittenFor(on)]];
  for (const layer of stepsOf(on)) steps.push([layer, await fetchHandler(layer, on)]);
  for (const [name, handle] of steps) {
    const answer = await handle(request());
    if (answer.status !== 200) throw new Error(`layers: step ${name} answered ${answer.status}: ${await answer.text()}`);
  }
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
  console.log(`POST ${BUILDUP_PATHS[on]}${on === "encrypt-spread" ? ", 10,000 users in turn" : ""}\n`);
  console.log("| step | CPU µs/request, in process | added µs |\n| --- | --- | --- |");
  let before: number | undefined;
  for (const [name] of steps) {
    const now = median(cpu.get(name) ?? []);
    console.log(`| ${name} | ${now.toFixed(2)} | ${before === undefined || name === "ref" ? "" : (now - before).toFixed(2)} |`);
    if (name !== "hand-written") before = now;
  }
}

if (inProcess) {
  await measureInProcess(route);
  process.exit(0);
}
const layer = stepsOf(route).find((step) => step === values.layer);
if (layer === undefined) throw new Error(`layers: --layer is one of ${stepsOf(route).join(", ")}`);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  development: false,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  tls: { cert: readFileSync(values.cert ?? "", "utf8"), key: readFileSync(values.key ?? "", "utf8") },
  fetch: await fetchHandler(layer, route),
});
console.log(`listening ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
