/**
 * The whole app for tests that drive it through app.handle(): real configuration, real key store,
 * real secret ring, no listener. One place builds it, so a new dependency of createApp is given
 * here once.
 */
import { type CaasApp, createApp } from "../../src/app.ts";
import { defaultConfig, type Config } from "../../src/config.ts";
import { ApiKeyStore } from "../../src/credentials/api-keys.ts";
import { CredentialsHolder } from "../../src/credentials/holder.ts";
import type { Keyring } from "../../src/credentials/keyring.ts";
import { makeSecretRing, newSecretVersion, type SecretVersion } from "../../src/credentials/secret-ring.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { CliIo } from "../../src/cli/io.ts";
import type { AuditTrail } from "../../src/http/audit.ts";
import type { Metrics } from "../../src/http/metrics.ts";

export type { CaasApp };

export interface TestCredentials {
  /** The API keys the app accepts: entries, or a store built elsewhere; none by default. */
  readonly apiKeys?: Parameters<typeof ApiKeyStore.fromKeys>[0] | ApiKeyStore;
  /** The server secret's versions; one fresh version 1 by default. */
  readonly secrets?: readonly SecretVersion[];
  /** The keyring; an empty one by default. */
  readonly keyring?: Keyring;
}

export interface TestAppOptions extends TestCredentials {
  /** Settings over the defaults. */
  readonly config?: Partial<Config>;
  /** A holder of the caller's own, to swap credentials under the app; built from apiKeys and secrets when absent. */
  readonly credentials?: CredentialsHolder;
  readonly metrics?: Metrics;
  readonly auditTrail?: AuditTrail;
  /** Where the app logs; nowhere when absent. */
  readonly logger?: Logger;
  /** Readiness as the server would see it; always ready when absent. */
  readonly isReady?: () => boolean;
}

export function testCredentials({ apiKeys = [], secrets = [newSecretVersion(1)], keyring }: TestCredentials = {}): CredentialsHolder {
  return new CredentialsHolder({
    apiKeys: apiKeys instanceof ApiKeyStore ? apiKeys : ApiKeyStore.fromKeys(apiKeys),
    secrets: makeSecretRing(secrets),
    ...(keyring === undefined ? {} : { keyring }),
  });
}

export function testApp(options: TestAppOptions = {}): CaasApp {
  return createApp(defaultConfig(options.config), {
    logger: options.logger ?? silentLogger,
    credentials: options.credentials ?? testCredentials(options),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.auditTrail === undefined ? {} : { auditTrail: options.auditTrail }),
    ...(options.isReady === undefined ? {} : { isReady: options.isReady }),
  });
}

/** POST `body` as JSON (a string is sent as it is, to send JSON that is not well formed). */
export function postJson(app: CaasApp, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return app.handle(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

export interface JsonAnswer<Body> {
  readonly status: number;
  /** The answer's JSON, of the shape the test expects (and asserts on). */
  readonly json: Body;
}

/** postJson, with the answer read: its status and JSON body (tests compare the pair whole, so nothing else is in it). */
export async function postForJson<Body = unknown>(
  app: CaasApp,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonAnswer<Body>> {
  const answer = await postJson(app, path, body, headers);
  return { status: answer.status, json: (await answer.json()) as Body };
}

export interface CommandRun {
  readonly code: number;
  /** Lines printed on standard output and standard error, in order. */
  readonly out: string[];
  readonly err: string[];
}

/** Runs a CLI command in-process (main, or one command's runner) with an io that keeps what it printed; `env` is all it sees. */
export async function runCommand(
  command: (args: readonly string[], io: CliIo) => Promise<number>,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CommandRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command(args, { out: (line) => out.push(line), err: (line) => err.push(line), env });
  return { code, out, err };
}
