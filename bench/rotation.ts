/**
 * A staged rotation under load: two instances of dist/caas, each with its own copy of the files,
 * and as many clients as the machine keeps busy sealing on one instance and opening on the other
 * (keyring encrypt → decrypt, /encrypt → /verify with the version it answered), while the
 * operator rotates the keyring key and the secret (staged), copies the files to each instance and
 * reloads it, then promotes both a few seconds ahead and copies and reloads again. Prints the
 * requests answered, the failures and any `match: false`, per phase. `bun run build` first.
 *
 *   bun run bench:rotation [--clients 32] [--phase-ms 3000] [--one-step]
 *
 * --one-step rotates with --activate-in 0 instead (each instance encrypts under the new version
 * from its own reload), for comparison: the failures it prints are what staging prevents.
 */
import { copyFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cli, makeTestPki, type RunningCaas, startCaas, tempDir } from "./harness.ts";
import { README_USER } from "../support/constants.ts";

const { values } = parseArgs({
  options: { clients: { type: "string", default: "32" }, "phase-ms": { type: "string", default: "3000" }, "one-step": { type: "boolean" } },
});
const ONE_STEP = values["one-step"] === true;
const CLIENTS = Number(values.clients);
const PHASE_MS = Number(values["phase-ms"]);
const FILES = ["secret.json", "keys.json", "root-key", "keyring.json"] as const;

const pki = makeTestPki();
const master = tempDir("caas-rotation-master-");
const path = (name: string) => join(master, name);
cli("secret", "init", path("secret.json"));
cli("root-key", "init", path("root-key"));
cli("keyring", "create", "orders", "--file", path("keyring.json"), "--root-key", path("root-key"));
const apiKey = /caas_[A-Za-z0-9_-]+/.exec(
  cli("keys", "add", "bench", "--file", path("keys.json"), "--scope", "pseudonym", "--scope", "keyring:orders"),
)?.[0];
if (apiKey === undefined) throw new Error("keys add printed no key");

const instanceDirs = [tempDir("caas-rotation-a-"), tempDir("caas-rotation-b-")];
/** As a configuration manager lays a file down: a copy beside it, renamed over it. */
function distribute(dir: string): void {
  for (const name of FILES) {
    copyFileSync(path(name), join(dir, `.${name}.new`));
    renameSync(join(dir, `.${name}.new`), join(dir, name));
  }
}
for (const dir of instanceDirs) distribute(dir);
const instances: RunningCaas[] = await Promise.all(
  instanceDirs.map((dir) =>
    startCaas({
      pki,
      env: {
        CAAS_SECRET_FILE: join(dir, "secret.json"),
        CAAS_API_KEYS_FILE: join(dir, "keys.json"),
        CAAS_ROOT_KEY_FILE: join(dir, "root-key"),
        CAAS_KEYRING_FILE: join(dir, "keyring.json"),
        CAAS_RELOAD_ON_CHANGE: "false",
      },
    }),
  ),
);

const counts = { requests: 0, failed: 0, mismatches: 0 };
const failures = new Map<string, number>();
const headers = { authorization: `Bearer ${apiKey}` };
async function call(instance: RunningCaas, route: string, body: unknown): Promise<Record<string, unknown> | undefined> {
  counts.requests += 1;
  try {
    const response = await instance.post(route, body, headers);
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status === 200) return json;
    const code = (json.error as { code?: string } | undefined)?.code ?? String(response.status);
    failures.set(code, (failures.get(code) ?? 0) + 1);
  } catch (error) {
    failures.set(String(error), (failures.get(String(error)) ?? 0) + 1);
  }
  counts.failed += 1;
  return undefined;
}

let running = true;
async function client(index: number): Promise<void> {
  for (let round = 0; running; round++) {
    const sealer = instances[(index + round) % 2]!;
    const opener = instances[(index + round + 1) % 2]!;
    const sealed = await call(sealer, "/keyring/orders/encrypt", { data: `order ${round}` });
    if (sealed !== undefined) await call(opener, "/keyring/orders/decrypt", { ciphertext: sealed.ciphertext });
    const made = await call(sealer, "/encrypt", { userUUID: README_USER, sensitiveData: `data ${index}` });
    if (made === undefined) continue;
    const verdict = await call(opener, "/verify", {
      userUUID: README_USER,
      sensitiveData: `data ${index}`,
      encrypted_data: made.encrypted_data,
      version: made.version,
    });
    if (verdict !== undefined && verdict.match !== true) counts.mismatches += 1;
  }
}

async function reloadEach(): Promise<void> {
  for (const [index, instance] of instances.entries()) {
    distribute(instanceDirs[index]!);
    const before = (instance.output().match(/"event":"reloaded"/g) ?? []).length;
    instance.process.kill("SIGHUP");
    while ((instance.output().match(/"event":"reloaded"/g) ?? []).length === before) await Bun.sleep(20);
    await Bun.sleep(PHASE_MS / 3);
  }
}

const phases: { phase: string; requests: number; failed: number; mismatches: number; ms: number }[] = [];
async function phase(name: string, work: () => Promise<void>): Promise<void> {
  const before = { ...counts };
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  phases.push({
    phase: name,
    requests: counts.requests - before.requests,
    failed: counts.failed - before.failed,
    mismatches: counts.mismatches - before.mismatches,
    ms: Math.round(ms),
  });
}

const clients = Array.from({ length: CLIENTS }, (_, index) => client(index));
await phase("steady", () => Bun.sleep(PHASE_MS));
const activateIn = ONE_STEP ? ["--activate-in", "0"] : [];
await phase(`rotate (${ONE_STEP ? "one step" : "staged"}), copy and reload each`, async () => {
  cli("keyring", "rotate", "orders", ...activateIn, "--file", path("keyring.json"), "--root-key", path("root-key"));
  cli("secret", "rotate", ...activateIn, path("secret.json"));
  await reloadEach();
});
const activation = Date.now() + PHASE_MS * 2;
if (!ONE_STEP) {
  await phase("promote at a time, copy and reload each", async () => {
    const at = new Date(activation).toISOString();
    cli("keyring", "promote", "orders", "2", "--at", at, "--file", path("keyring.json"), "--root-key", path("root-key"));
    cli("secret", "promote", "2", path("secret.json"), "--at", at);
    await reloadEach();
  });
}
await phase(ONE_STEP ? "after" : "across the activation time", () => Bun.sleep(Math.max(0, activation - Date.now()) + PHASE_MS));
running = false;
await Promise.all(clients);

console.log(`${ONE_STEP ? "one-step" : "staged"} rotation under load: ${CLIENTS} clients, two instances`);
console.log("| phase | requests | req/s | failed | match: false |\n| --- | ---: | ---: | ---: | ---: |");
for (const row of phases)
  console.log(`| ${row.phase} | ${row.requests} | ${Math.round((row.requests * 1000) / row.ms)} | ${row.failed} | ${row.mismatches} |`);
console.log(`total: ${counts.requests} requests, ${counts.failed} failed, ${counts.mismatches} match: false`);
if (failures.size > 0) console.log("failures by code:", Object.fromEntries(failures));

await Promise.all(instances.map((instance) => instance.stop()));
for (const dir of [master, ...instanceDirs, pki.dir]) rmSync(dir, { recursive: true, force: true });
process.exit(counts.failed === 0 && counts.mismatches === 0 ? 0 : 1);
