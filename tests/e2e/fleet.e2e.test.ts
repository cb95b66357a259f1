/**
 * A fleet: three dist/caas instances behind nginx (stream, TLS passthrough, round-robin), each
 * with its own copy of the credential files in its own directory, as a configuration manager
 * lays them down: the operator changes the master files with the CLI, and a change reaches an
 * instance when the master file is copied beside its copy and renamed over it. While the files
 * move, clients seal on one instance and open on another without pause (keyring encrypt and
 * decrypt, the oracle's envelope mode, /encrypt and /verify with the version it answered) and
 * every failed request and every wrong answer is counted. Each scenario starts its own fleet.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import {
  addApiKey,
  cli,
  cliOk,
  logCount,
  makeTestPki,
  type RunningCaas,
  startCaas,
  tempDir,
  type TestPki,
  waitFor,
  waitForLog,
} from "./harness.ts";
import { haveNginx, NGINX_MISSING, type RunningNginx, startNginx } from "./nginx.ts";
import { README_USER } from "../../support/constants.ts";
import { migratesAcceptQueue } from "../../support/accept-queue.ts";

if (!haveNginx) console.warn(`fleet: skipped: ${NGINX_MISSING}`);
const KEY = "orders";
const AAD = "fleet";
const CLIENTS = 4;
/** How far apart a rolling reload takes the instances. */
const ROLLING_GAP_MS = 2_000;
/** An instance switches to a promoted version this soon after the activation time, or it failed to. */
const SWITCH_TOLERANCE_MS = 1_000;

const CREDENTIAL_FILES = ["secret.json", "keys.json", "root-key", "keyring.json", "tls.crt", "tls.key"] as const;
type CredentialFile = (typeof CREDENTIAL_FILES)[number];

let pki: TestPki;
/** What a scenario started or made, undone after it whatever its outcome. */
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  pki = makeTestPki();
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

afterAll(() => {
  rmSync(pki.dir, { recursive: true, force: true });
});

/** The operator's files: the ones the CLI changes, copied from here to every instance. */
interface Master {
  readonly dir: string;
  readonly apiKey: string;
  path(file: CredentialFile): string;
  /** `caas keyring ...` on the master keyring under the master root key. */
  keyring(...args: string[]): string;
}

function makeMaster(): Master {
  const dir = tempDir("caas-fleet-master-");
  const path = (file: CredentialFile) => join(dir, file);
  cliOk("secret", "init", path("secret.json"));
  cliOk("root-key", "init", path("root-key"));
  cliOk("keyring", "create", KEY, "--file", path("keyring.json"), "--root-key", path("root-key"));
  const apiKey = addApiKey("fleet-client", path("keys.json"), "--scope", "pseudonym", "--scope", `keyring:${KEY}`);
  copyFileSync(pki.serverCert, path("tls.crt"));
  copyFileSync(pki.serverKey, path("tls.key"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    apiKey,
    path,
    keyring: (...args) => cliOk("keyring", ...args, "--file", path("keyring.json"), "--root-key", path("root-key")),
  };
}

/**
 * How an instance's files are laid out. "files": each file in the instance's directory, replaced
 * by a copy renamed over it. "kubernetes": a Secret volume as the kubelet writes it (its
 * atomic_writer): the files in a timestamped directory, `..data` linking to it, `files` linking
 * to `..data/files`, the volume's root mode 1777; an update is a new timestamped directory and
 * a new `..data` link renamed over the old one. The files sit one level down, as in
 * deploy/kubernetes/deployment.yaml: a link at the top of a 1777 directory is refused (anyone
 * could replace it), one in a directory of the kubelet's own is not.
 */
type Layout = "files" | "kubernetes";

interface Member {
  readonly label: string;
  readonly dir: string;
  readonly layout: Layout;
  readonly caas: RunningCaas;
  /** The path the instance is configured with for `file`. */
  path(file: CredentialFile): string;
}

let stamps = 0;

function volumeStamp(): string {
  stamps += 1;
  return `..${new Date().toISOString().replace(/[-:T]/g, "_").replace(/\..*/, "")}.${process.pid}${stamps}`;
}

/** Writes the kubelet's next version of the volume at `root`: `replace` files from their sources, the others as they were. */
function swapVolume(root: string, replace: Partial<Record<CredentialFile, string>>): void {
  const previous = join(root, "..data");
  let old: string | undefined;
  try {
    old = join(root, readlinkSync(previous));
  } catch {
    // The volume's first version.
  }
  const stamp = volumeStamp();
  mkdirSync(join(root, stamp, "files"), { recursive: true, mode: 0o755 });
  for (const file of CREDENTIAL_FILES) {
    const target = join(root, stamp, "files", file);
    copyFileSync(replace[file] ?? join(root, "files", file), target);
    chmodSync(target, 0o400);
  }
  symlinkSync(stamp, join(root, "..data_tmp"));
  renameSync(join(root, "..data_tmp"), previous);
  if (old === undefined) symlinkSync(join("..data", "files"), join(root, "files"));
  else rmSync(old, { recursive: true, force: true });
}

/** Where `file` is read from in an instance directory `dir` laid out as `layout`. */
function pathIn(dir: string, layout: Layout, file: CredentialFile): string {
  return layout === "files" ? join(dir, file) : join(dir, "volume", "files", file);
}

/** Puts a copy of each source in the instance directory `dir` in place of its file: renamed over it, or in a new volume version. */
function lay(dir: string, layout: Layout, files: Partial<Record<CredentialFile, string>>): void {
  if (layout === "kubernetes") {
    swapVolume(join(dir, "volume"), files);
    return;
  }
  for (const [file, source] of Object.entries(files)) {
    const target = pathIn(dir, layout, file as CredentialFile);
    const temporary = `${target}.new`;
    copyFileSync(source, temporary);
    chmodSync(temporary, 0o600);
    renameSync(temporary, target);
  }
}

function deliver(member: Member, files: Partial<Record<CredentialFile, string>>): void {
  lay(member.dir, member.layout, files);
}

/** Copies the master's `files` to the instance, as a configuration manager would. */
function distribute(master: Master, member: Member, files: readonly CredentialFile[]): void {
  deliver(member, Object.fromEntries(files.map((file) => [file, master.path(file)])));
}

async function startMember(master: Master, label: string, layout: Layout, env: Record<string, string>): Promise<Member> {
  const dir = tempDir(`caas-fleet-${label}-`);
  const path = (file: CredentialFile) => pathIn(dir, layout, file);
  if (layout === "kubernetes") {
    mkdirSync(join(dir, "volume"));
    chmodSync(join(dir, "volume"), 0o1777);
  }
  lay(dir, layout, Object.fromEntries(CREDENTIAL_FILES.map((file) => [file, master.path(file)])));
  const caas = await startCaas({
    pki,
    cwd: dir,
    env: {
      CAAS_SECRET_FILE: path("secret.json"),
      CAAS_API_KEYS_FILE: path("keys.json"),
      CAAS_ROOT_KEY_FILE: path("root-key"),
      CAAS_KEYRING_FILE: path("keyring.json"),
      CAAS_TLS_CERT: path("tls.crt"),
      CAAS_TLS_KEY: path("tls.key"),
      ...env,
    },
  });
  cleanups.push(async () => {
    await caas.stop();
  });
  return { label, dir, layout, caas, path };
}

interface Fleet {
  readonly master: Master;
  readonly members: readonly Member[];
  readonly nginx: RunningNginx;
}

async function startFleet(layout: Layout, env: Record<string, string>): Promise<Fleet> {
  const master = makeMaster();
  const members = await Promise.all(["a", "b", "c"].map((label) => startMember(master, label, layout, env)));
  const nginx = await startNginx(
    members.map((member) => member.caas.port),
    pki.caCertPem,
  );
  cleanups.push(() => nginx.stop());
  return { master, members, nginx };
}

/** Where a request goes: an instance directly (keep-alive), or nginx on a fresh connection each time, so it takes turns. */
interface Target {
  readonly label: string;
  readonly url: string;
  readonly keepalive: boolean;
}

interface Route {
  readonly seal: Target;
  readonly open: Target;
}

const direct = (member: Member): Target => ({ label: member.label, url: member.caas.url, keepalive: true });

/** Every ordered pair of distinct instances, and through nginx as often as all of them together. */
function fleetRoutes(fleet: Fleet): Route[] {
  const routes: Route[] = [];
  for (const seal of fleet.members)
    for (const open of fleet.members) if (seal !== open) routes.push({ seal: direct(seal), open: direct(open) });
  const balanced: Target = { label: "nginx", url: fleet.nginx.url, keepalive: false };
  for (let i = 0; i < 6; i++) routes.push({ seal: balanced, open: balanced });
  return routes;
}

interface Counts {
  requests: number;
  ok: number;
  /** No answer, or any answer but the expected one (an unknown version aside). */
  failed: number;
  /**
   * A new connection reset before any answer (ECONNRESET): what Linux does to the connections
   * still waiting in a replaced listener's accept queue unless net.ipv4.tcp_migrate_req=1.
   */
  resets: number;
  /** A 200 that is wrong: match: false, or other data than was sealed. */
  mismatched: number;
  /** 503 key_version_unknown or secret_version_unknown with a Retry-After. */
  unknownVersion: number;
  /** Who answered an unknown version, and which: "c key_version_unknown" (c an instance, or nginx). */
  readonly unknownAt: Map<string, number>;
  /** What was sealed, by kind and version: "keyring v2", "secret v1". */
  readonly sealed: Map<string, number>;
  /** Each distinct failure, with how often it happened. */
  readonly failures: Map<string, number>;
  /** When the first failures happened, to set beside the instances' logs. */
  readonly failedAt: string[];
}

function newCounts(): Counts {
  return {
    requests: 0,
    ok: 0,
    failed: 0,
    resets: 0,
    mismatched: 0,
    unknownVersion: 0,
    unknownAt: new Map(),
    sealed: new Map(),
    failures: new Map(),
    failedAt: [],
  };
}

function summary(counts: Counts): string {
  const sealed = [...counts.sealed].map(([kind, n]) => `${kind}: ${n}`).join(", ");
  const failures = [...counts.failures].map(([what, n]) => `${n}× ${what}`).join("; ");
  const tally = (map: Map<string, number>) => (map.size === 0 ? "" : ` (${[...map].map(([what, n]) => `${what}: ${n}`).join(", ")})`);
  return `${counts.requests} requests, ${counts.ok} ok, ${counts.failed} failed, ${counts.resets} new connections reset, ${counts.mismatched} wrong, ${counts.unknownVersion} unknown version${tally(counts.unknownAt)}; sealed ${sealed}${failures === "" ? "" : `; failures: ${failures}`}`;
}

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly json: Json;
  readonly retryAfter: string | null;
}

const UNKNOWN_VERSION = new Set(["key_version_unknown", "secret_version_unknown"]);

function fail(counts: Counts, what: string): void {
  counts.failed += 1;
  counts.failures.set(what, (counts.failures.get(what) ?? 0) + 1);
  if (counts.failedAt.length < 20) counts.failedAt.push(`${new Date().toISOString()} ${what}`);
}

/** One request, counted; undefined (counted as failed) when no answer came. */
async function send(counts: Counts, apiKey: string, target: Target, path: string, body: Json): Promise<Answer | undefined> {
  counts.requests += 1;
  try {
    const answer = await fetch(`${target.url}${path}`, {
      method: "POST",
      keepalive: target.keepalive,
      headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(body),
      tls: { ca: pki.caCertPem },
    } as RequestInit);
    return { status: answer.status, json: (await answer.json()) as Json, retryAfter: answer.headers.get("retry-after") };
  } catch (error) {
    const what = `${target.label} ${path}: ${error instanceof Error ? error.message : String(error)}`;
    if (!target.keepalive && error instanceof Error && "code" in error && error.code === "ECONNRESET") {
      counts.resets += 1;
      if (counts.failedAt.length < 20) counts.failedAt.push(`${new Date().toISOString()} reset: ${what}`);
    } else fail(counts, what);
    return undefined;
  }
}

function codeOf(answer: Answer): string {
  const error = answer.json.error as { code?: unknown } | undefined;
  return typeof error?.code === "string" ? error.code : "";
}

/** A seal's answer: its JSON when it is a 200, else counted as failed. */
function sealed(counts: Counts, target: Target, path: string, answer: Answer | undefined): Json | undefined {
  if (answer === undefined) return undefined;
  if (answer.status === 200) {
    counts.ok += 1;
    return answer.json;
  }
  fail(counts, `${target.label} ${path}: HTTP ${answer.status} ${codeOf(answer)}`);
  return undefined;
}

/** An opening's answer: right, wrong, an unknown version said properly, or a failure. */
function opened(counts: Counts, target: Target, path: string, answer: Answer | undefined, right: (json: Json) => boolean): void {
  if (answer === undefined) return;
  if (answer.status === 200) {
    if (right(answer.json)) counts.ok += 1;
    else counts.mismatched += 1;
    return;
  }
  if (answer.status === 503 && UNKNOWN_VERSION.has(codeOf(answer)) && /^[1-9]\d*$/.test(answer.retryAfter ?? "")) {
    counts.unknownVersion += 1;
    const at = `${target.label} ${codeOf(answer)}`;
    counts.unknownAt.set(at, (counts.unknownAt.get(at) ?? 0) + 1);
    return;
  }
  fail(counts, `${target.label} ${path}: HTTP ${answer.status} ${codeOf(answer)}`);
}

function noteSealed(counts: Counts, kind: string, version: number | undefined): void {
  const name = `${kind} v${version ?? "?"}`;
  counts.sealed.set(name, (counts.sealed.get(name) ?? 0) + 1);
}

/** The version a caas ciphertext (`caas:vN:…`) names. */
function versionOf(ciphertext: unknown): number | undefined {
  const match = /^caas:v(\d+):/.exec(typeof ciphertext === "string" ? ciphertext : "");
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Seals on `route.seal` and opens on `route.open`: a keyring ciphertext, an envelope-mode oracle seal, a pseudonym. */
async function exchange(counts: Counts, apiKey: string, route: Route, n: number): Promise<void> {
  const { seal, open } = route;
  const data = `fleet item ${n}`;
  const ciphertext = sealed(counts, seal, "encrypt", await send(counts, apiKey, seal, `/keyring/${KEY}/encrypt`, { data, aad: AAD }));
  if (ciphertext !== undefined) {
    noteSealed(counts, "keyring", versionOf(ciphertext.ciphertext));
    const answer = await send(counts, apiKey, open, `/keyring/${KEY}/decrypt`, { ciphertext: ciphertext.ciphertext, aad: AAD });
    opened(counts, open, "decrypt", answer, (json) => json.data === data);
  }
  const envelope = sealed(counts, seal, "oracle", await send(counts, apiKey, seal, "/oracleinvocation", { data, wrap_with: KEY }));
  if (envelope !== undefined) {
    noteSealed(counts, "envelope", versionOf(envelope.wrapped_key));
    const { data: sealedData, wrapped_key, mac, nonce } = envelope;
    const answer = await send(counts, apiKey, open, "/oracleinvocation/decrypt", {
      data: sealedData,
      wrapped_key,
      mac,
      nonce,
      wrap_with: KEY,
    });
    opened(counts, open, "oracle decrypt", answer, (json) => json.data === data);
  }
  const pseudonym = sealed(
    counts,
    seal,
    "/encrypt",
    await send(counts, apiKey, seal, "/encrypt", { userUUID: README_USER, sensitiveData: data }),
  );
  if (pseudonym !== undefined) {
    const version = typeof pseudonym.version === "number" ? pseudonym.version : undefined;
    noteSealed(counts, "secret", version);
    const answer = await send(counts, apiKey, open, "/verify", {
      userUUID: README_USER,
      sensitiveData: data,
      encrypted_data: pseudonym.encrypted_data,
      version,
    });
    opened(counts, open, "/verify", answer, (json) => json.match === true);
  }
}

interface Traffic {
  readonly counts: Counts;
  /** Stops every client after its current exchange; the counts, once all have stopped. */
  stop(): Promise<Counts>;
}

/** CLIENTS loops, each going through `routes` in turn without pause until stopped. */
function startTraffic(routes: readonly Route[], apiKey: string, counts: Counts = newCounts()): Traffic {
  let stopping = false;
  const client = async (id: number) => {
    for (let n = id; !stopping; n += CLIENTS) await exchange(counts, apiKey, routes[n % routes.length]!, n);
  };
  const clients = Array.from({ length: CLIENTS }, (_, id) => client(id));
  const stop = async () => {
    stopping = true;
    await Promise.all(clients);
    return counts;
  };
  // A scenario that fails midway leaves no client hammering instances that are gone.
  cleanups.push(async () => {
    await stop();
  });
  return { counts, stop };
}

/** Sends SIGHUP and waits for the instance's next `reloaded` or `reload_failed` line; which of the two came. */
async function reload(caas: RunningCaas): Promise<"reloaded" | "reload_failed"> {
  const outcomes = () => logCount(caas.output(), "reloaded") + logCount(caas.output(), "reload_failed");
  const before = { reloaded: logCount(caas.output(), "reloaded"), outcomes: outcomes() };
  caas.process.kill("SIGHUP");
  await waitFor(() => outcomes() > before.outcomes, "a reload's outcome", 10_000);
  return logCount(caas.output(), "reloaded") > before.reloaded ? "reloaded" : "reload_failed";
}

/** The fingerprints /metrics labels caas_credentials_info with: one, unless workers disagree. */
async function fingerprints(caas: RunningCaas): Promise<string[]> {
  const page = await (await caas.ops("/metrics")).text();
  return [...page.matchAll(/^caas_credentials_info\{fingerprint="([0-9a-f]+)"\} 1$/gm)].map((match) => match[1] ?? "");
}

/** Every complete line logged for `event`, parsed. */
function eventLines(caas: RunningCaas, event: string): Json[] {
  return caas
    .output()
    .split("\n")
    .slice(0, -1)
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Json);
}

/** The last line logged for `event`, parsed. */
function lastLine(caas: RunningCaas, event: string): Json {
  const line = eventLines(caas, event).at(-1);
  expect(line).toBeDefined();
  return line ?? {};
}

/** The versions an instance makes now, asked directly: its keyring ciphertexts' and its pseudonyms'. */
async function versionsMade(counts: Counts, apiKey: string, target: Target): Promise<{ keyring?: number; secret?: number }> {
  const ciphertext = sealed(counts, target, "encrypt", await send(counts, apiKey, target, `/keyring/${KEY}/encrypt`, { data: "probe" }));
  const pseudonym = sealed(
    counts,
    target,
    "/encrypt",
    await send(counts, apiKey, target, "/encrypt", { userUUID: README_USER, sensitiveData: "probe" }),
  );
  return {
    keyring: versionOf(ciphertext?.ciphertext),
    secret: typeof pseudonym?.version === "number" ? pseudonym.version : undefined,
  };
}

interface Switch {
  /** When each instance first answered the new version, keyring and secret (ms since the epoch). */
  readonly first: Map<string, number>;
  /** Answers of the old version asked for after that instance had first answered the new one. */
  oldAfterNew: number;
  probes: number;
}

/** Asks every instance directly, about every 50 ms until `until`, which versions it makes; notes when each first makes `version`. */
async function watchSwitch(members: readonly Member[], apiKey: string, counts: Counts, version: number, until: number): Promise<Switch> {
  const result: Switch = { first: new Map(), oldAfterNew: 0, probes: 0 };
  await Promise.all(
    members.map(async (member) => {
      while (Date.now() < until) {
        const asked = Date.now();
        const made = await versionsMade(counts, apiKey, direct(member));
        const answered = Date.now();
        result.probes += 1;
        for (const kind of ["keyring", "secret"] as const) {
          const name = `${member.label} ${kind}`;
          const first = result.first.get(name);
          if (made[kind] === version && first === undefined) result.first.set(name, answered);
          if (made[kind] !== version && first !== undefined && asked > first) result.oldAfterNew += 1;
        }
        await Bun.sleep(50);
      }
    }),
  );
  return result;
}

/** Every instance holds the same files once each has loaded them: one fingerprint across the fleet. */
async function fleetFingerprints(fleet: Fleet): Promise<Set<string>> {
  return new Set((await Promise.all(fleet.members.map((member) => fingerprints(member.caas)))).flat());
}

const MIGRATES_ACCEPT_QUEUE = migratesAcceptQueue();
if (!MIGRATES_ACCEPT_QUEUE) {
  console.warn(
    "fleet: net.ipv4.tcp_migrate_req is not 1, so a reload may reset a new connection not yet accepted; such resets are held to those nginx saw from an upstream that had sent nothing, not to none (sysctl -w net.ipv4.tcp_migrate_req=1, as .ci/run does)",
  );
}

/** nginx's count of connections an upstream reset before sending a byte: never answered, never handled. */
function resetBeforeAnswer(nginx: RunningNginx): number {
  return nginx
    .errors()
    .filter((line) => /Connection reset by peer\) while proxying and reading from upstream.*bytes from\/to upstream:0\//.test(line)).length;
}

/** No request failed and no answer was wrong; with tcp_migrate_req off, new connections reset in a swapped listener's queue aside. */
function expectNothingLost(counts: Counts, fleet: Fleet | undefined): void {
  if (counts.failed + counts.resets > 0 && fleet !== undefined) explainFailures(fleet, counts);
  expect(counts.failures).toEqual(new Map());
  expect(counts.failed).toBe(0);
  expect(counts.mismatched).toBe(0);
  if (MIGRATES_ACCEPT_QUEUE || fleet === undefined) expect(counts.resets).toBe(0);
  else expect(counts.resets).toBeLessThanOrEqual(resetBeforeAnswer(fleet.nginx));
}

/** Prints when requests failed beside what the instances and nginx logged then: reloads, listener swaps, upstream errors. */
function explainFailures(fleet: Fleet, counts: Counts): void {
  const events = new Set(["reload_requested", "reloaded", "reload_failed", "reload_may_reset_connections", "draining"]);
  const lines = fleet.members.flatMap((member) =>
    [...events].flatMap((event) => eventLines(member.caas, event).map((line) => `${String(line.time)} ${member.label} ${event}`)),
  );
  console.log(["failed:", ...counts.failedAt, "instances:", ...lines.sort(), "nginx:", ...fleet.nginx.errors()].join("\n  "));
}

/** How a rolled-out change reaches a running instance. */
type Trigger = "sighup" | "change";

/**
 * Copies the master's `files` to one instance after another, `gapMs` apart, each reloaded
 * by SIGHUP at once, or left to notice the change itself; resolves once every one has logged a
 * further `reloaded`.
 */
async function rollOut(fleet: Fleet, files: readonly CredentialFile[], trigger: Trigger, gapMs = ROLLING_GAP_MS): Promise<void> {
  const expected = fleet.members.map((member) => logCount(member.caas.output(), "reloaded") + 1);
  for (const [index, member] of fleet.members.entries()) {
    const started = Date.now();
    distribute(fleet.master, member, files);
    if (trigger === "sighup") expect(await reload(member.caas)).toBe("reloaded");
    if (index < fleet.members.length - 1) await Bun.sleep(Math.max(0, started + gapMs - Date.now()));
  }
  await Promise.all(fleet.members.map((member, index) => waitForLog(member.caas, "reloaded", expected[index], 5_000)));
}

/**
 * The rotation runbook under traffic: `keyring rotate` and `secret rotate` (staged), rolled out;
 * the fingerprints compared; both promoted at one time a few seconds ahead, rolled out before
 * it; then every instance watched across that time.
 */
async function stagedRotation(fleet: Fleet, trigger: Trigger): Promise<void> {
  const { master, members } = fleet;
  const traffic = startTraffic(fleetRoutes(fleet), master.apiKey);
  await Bun.sleep(500);

  master.keyring("rotate", KEY);
  cliOk("secret", "rotate", master.path("secret.json"));
  await rollOut(fleet, ["secret.json", "keyring.json"], trigger);
  for (const member of members) {
    expect(lastLine(member.caas, "credentials_loaded")).toMatchObject({
      activeSecretVersion: 1,
      stagedSecretVersions: 1,
      keyringActive: `${KEY}=1`,
      keyringStaged: `${KEY}=1`,
    });
  }
  // What an operator checks before promoting: every instance loaded the same files.
  expect((await fleetFingerprints(fleet)).size).toBe(1);

  // Time for the rollout (the last instance may take up to 2.3 s to notice a change) and a margin.
  const activation = Date.now() + 3 * ROLLING_GAP_MS + 2_500;
  const at = new Date(activation).toISOString();
  master.keyring("promote", KEY, "2", "--at", at);
  cliOk("secret", "promote", "2", master.path("secret.json"), "--at", at);
  const watching = watchSwitch(members, master.apiKey, traffic.counts, 2, activation + 1_500);
  await rollOut(fleet, ["secret.json", "keyring.json"], trigger);
  const rolledOut = Date.now();
  const switched = await watching;
  const counts = await traffic.stop();
  const lags = [...switched.first].map(([name, first]) => `${name} +${first - activation} ms`);
  console.log(
    `fleet, staged rotation (${fleet.members[0]?.layout}, ${trigger}): ${summary(counts)}; rolled out ${activation - rolledOut} ms before the activation time; switched after it: ${lags.join(", ")}; ${switched.probes} probes`,
  );

  expect(rolledOut).toBeLessThan(activation);
  expectNothingLost(counts, fleet);
  expect(counts.unknownVersion).toBe(0);
  expect(counts.requests).toBeGreaterThan(300);
  // The traffic crossed the switch: it sealed under both versions.
  for (const kind of ["keyring", "envelope", "secret"]) {
    expect(counts.sealed.get(`${kind} v1`)).toBeGreaterThan(0);
    expect(counts.sealed.get(`${kind} v2`)).toBeGreaterThan(0);
  }
  expect([...switched.first.keys()].sort()).toEqual(
    members.flatMap((member) => [`${member.label} keyring`, `${member.label} secret`]).sort(),
  );
  for (const first of switched.first.values()) {
    expect(first).toBeGreaterThanOrEqual(activation);
    expect(first - activation).toBeLessThan(SWITCH_TOLERANCE_MS);
  }
  expect(switched.oldAfterNew).toBe(0);
  for (const member of members) {
    // Two reloads each, none at the activation time: each instance switched on its own clock.
    expect(logCount(member.caas.output(), "reloaded")).toBe(2);
    expect(logCount(member.caas.output(), "reload_failed")).toBe(0);
    expect(lastLine(member.caas, "reloaded")).toMatchObject({ applied: "credentials,tls" });
  }
}

/** One request outside the traffic's counts; its answer, which must come. */
async function ask(apiKey: string, target: Target, path: string, body: Json): Promise<Answer> {
  const answer = await send(newCounts(), apiKey, target, path, body);
  expect(answer).toBeDefined();
  return answer as Answer;
}

/** The answer of an instance that does not hold the version asked for: 503 with the code and a Retry-After, nothing else. */
function expectUnknownVersion(answer: Answer, code: "key_version_unknown" | "secret_version_unknown"): void {
  expect({ status: answer.status, code: codeOf(answer), retryAfter: answer.retryAfter }).toEqual({
    status: 503,
    code,
    retryAfter: expect.stringMatching(/^[1-9]\d*$/),
  });
}

/** The common name of the certificate an instance presents to a new connection. */
async function presentedName(caas: RunningCaas): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port: caas.port, ca: pki.caCertPem, servername: "localhost" });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    return String(socket.getPeerCertificate().subject.CN);
  } finally {
    socket.destroy();
  }
}

/** What a member that lags behind answers for material of a version it lacks, made on `maker`. */
async function expectLaggard(apiKey: string, maker: Target, laggard: Target, version: number): Promise<void> {
  const ciphertext = (await ask(apiKey, maker, `/keyring/${KEY}/encrypt`, { data: "new", aad: AAD })).json.ciphertext;
  expect(versionOf(ciphertext)).toBe(version);
  expectUnknownVersion(await ask(apiKey, laggard, `/keyring/${KEY}/decrypt`, { ciphertext, aad: AAD }), "key_version_unknown");
  const envelope = (await ask(apiKey, maker, "/oracleinvocation", { data: "new", wrap_with: KEY })).json;
  expect(versionOf(envelope.wrapped_key)).toBe(version);
  const { data, wrapped_key, mac, nonce } = envelope;
  const opened = await ask(apiKey, laggard, "/oracleinvocation/decrypt", { data, wrapped_key, mac, nonce, wrap_with: KEY });
  expectUnknownVersion(opened, "key_version_unknown");
}

describe.skipIf(!haveNginx)("a fleet of three behind nginx, each with its own copy of the files", () => {
  it("rotates a keyring key and the secret staged, reloaded one at a time by SIGHUP, then promoted at a time: no failure, every instance switches within 1 s", async () => {
    await stagedRotation(await startFleet("files", { CAAS_RELOAD_ON_CHANGE: "false" }), "sighup");
  }, 40_000);

  it("does the same rotation with each instance's files in a Kubernetes Secret volume, reloaded on change (the ..data swap)", async () => {
    const fleet = await startFleet("kubernetes", { CAAS_RELOAD_ON_CHANGE: "true" });
    await stagedRotation(fleet, "change");
    for (const member of fleet.members) {
      expect(member.caas.output()).not.toContain('"signal":"SIGHUP"');
      expect(logCount(member.caas.output(), "reload_requested")).toBe(2);
      expect(lastLine(member.caas, "reload_requested")).toMatchObject({ reason: "files_changed" });
      // Every file of the volume moved with the swap, so every one is named as changed.
      expect(String(lastLine(member.caas, "reload_requested").files).split(",").sort()).toEqual(
        CREDENTIAL_FILES.map((file) => member.path(file)).sort(),
      );
    }
  }, 40_000);

  it("leaves an instance that missed a rotation and its promotion answering 503 with Retry-After for the new versions, never authentication_failed or match: false", async () => {
    const fleet = await startFleet("files", { CAAS_RELOAD_ON_CHANGE: "false" });
    const { master, members } = fleet;
    const [a, b, c] = members as [Member, Member, Member];
    const caught = { ...fleet, members: [a, b] };
    const traffic = startTraffic(fleetRoutes(fleet), master.apiKey);
    await Bun.sleep(300);

    master.keyring("rotate", KEY);
    cliOk("secret", "rotate", master.path("secret.json"));
    await rollOut(caught, ["secret.json", "keyring.json"], "sighup", 0);
    master.keyring("promote", KEY, "2");
    cliOk("secret", "promote", "2", master.path("secret.json"));
    await rollOut(caught, ["secret.json", "keyring.json"], "sighup", 0);

    await expectLaggard(master.apiKey, direct(a), direct(c), 2);
    const made = (await ask(master.apiKey, direct(b), "/encrypt", { userUUID: README_USER, sensitiveData: "new" })).json;
    expect(made.version).toBe(2);
    const verify = { userUUID: README_USER, sensitiveData: "new", encrypted_data: made.encrypted_data, version: 2 };
    expectUnknownVersion(await ask(master.apiKey, direct(c), "/verify", verify), "secret_version_unknown");
    // What c makes, the others open: they hold its versions still.
    expect(await versionsMade(newCounts(), master.apiKey, direct(c))).toEqual({ keyring: 1, secret: 1 });
    await Bun.sleep(1_500);
    const counts = await traffic.stop();
    console.log(`fleet, an instance left behind: ${summary(counts)}`);

    expectNothingLost(counts, fleet);
    expect(counts.unknownVersion).toBeGreaterThan(0);
    // Only c lacks version 2: every unknown version was answered by c, directly or behind nginx.
    for (const at of counts.unknownAt.keys()) expect(at).toMatch(/^(c|nginx) (key|secret)_version_unknown$/);
    for (const code of ["key_version_unknown", "secret_version_unknown"]) expect(counts.unknownAt.get(`c ${code}`)).toBeGreaterThan(0);
    expect(counts.sealed.get("keyring v2")).toBeGreaterThan(0);
    expect(logCount(c.caas.output(), "reloaded")).toBe(0);
  }, 30_000);

  it("moves the keyring to a new root key one instance at a time, with traffic running: no failure", async () => {
    const fleet = await startFleet("files", { CAAS_RELOAD_ON_CHANGE: "false" });
    const { master, members } = fleet;
    const before = (await ask(master.apiKey, direct(members[0] as Member), `/keyring/${KEY}/encrypt`, { data: "before", aad: AAD })).json;
    const traffic = startTraffic(fleetRoutes(fleet), master.apiKey);
    await Bun.sleep(300);

    const newRootKey = join(master.dir, "root-key.new");
    const oldRootKey = join(master.dir, "root-key.old");
    cliOk("root-key", "init", newRootKey);
    master.keyring("root-key", "add", newRootKey);
    await rollOut(fleet, ["keyring.json"], "sighup", 0);
    // The master's root key file becomes the new one; the old one stays beside it until removed.
    copyFileSync(master.path("root-key"), oldRootKey);
    copyFileSync(newRootKey, `${master.path("root-key")}.new`);
    renameSync(`${master.path("root-key")}.new`, master.path("root-key"));
    await rollOut(fleet, ["root-key"], "sighup", 0);
    master.keyring("root-key", "remove", oldRootKey);
    await rollOut(fleet, ["keyring.json"], "sighup", 0);
    await Bun.sleep(300);
    const counts = await traffic.stop();
    console.log(`fleet, root key rotation: ${summary(counts)}`);

    expectNothingLost(counts, fleet);
    expect(counts.unknownVersion).toBe(0);
    expect(counts.requests).toBeGreaterThan(300);
    expect((await fleetFingerprints(fleet)).size).toBe(1);
    for (const member of members) {
      expect(logCount(member.caas.output(), "reloaded")).toBe(3);
      // Each instance's copy opens under the new root key alone now.
      const keyring = ["keyring", "list", "--file", member.path("keyring.json"), "--root-key"];
      expect(cli([...keyring, oldRootKey]).code).toBe(78);
      expect(cli([...keyring, member.path("root-key")]).code).toBe(0);
      const opened = await ask(master.apiKey, direct(member), `/keyring/${KEY}/decrypt`, { ciphertext: before.ciphertext, aad: AAD });
      expect(opened.json).toEqual({ data: "before" });
    }
  }, 30_000);

  it("applies nothing of a reload whose certificate is bad, though the keyring beside it was rotated", async () => {
    const fleet = await startFleet("files", { CAAS_RELOAD_ON_CHANGE: "false" });
    const { master, members } = fleet;
    const [a, b, c] = members as [Member, Member, Member];
    const traffic = startTraffic(fleetRoutes(fleet), master.apiKey);
    await Bun.sleep(300);

    // Rotated and promoted on a and b by the runbook, so only c, which fails to load it, lacks version 2.
    master.keyring("rotate", KEY);
    await rollOut({ ...fleet, members: [a, b] }, ["keyring.json"], "sighup", 0);
    master.keyring("promote", KEY, "2");
    await rollOut({ ...fleet, members: [a, b] }, ["keyring.json"], "sighup", 0);
    const held = await fingerprints(c.caas);
    expect(held).toHaveLength(1);
    expect(await presentedName(c.caas)).toBe("server");
    // A certificate renewed without its key: it does not match tls.key.
    const other = makeTestPki(pki.dir, "renewed");
    deliver(c, { "keyring.json": master.path("keyring.json"), "tls.crt": other.serverCert });
    expect(await reload(c.caas)).toBe("reload_failed");
    const failed = lastLine(c.caas, "reload_failed");
    expect(failed).toMatchObject({ applied: "nothing", fingerprint: held[0] });
    expect(await fingerprints(c.caas)).toEqual(held);
    expect(await presentedName(c.caas)).toBe("server");
    expect(await versionsMade(newCounts(), master.apiKey, direct(c))).toEqual({ keyring: 1, secret: 1 });
    await expectLaggard(master.apiKey, direct(a), direct(c), 2);
    await Bun.sleep(500);
    const counts = await traffic.stop();
    console.log(`fleet, a bad certificate beside a rotated keyring: ${summary(counts)}; reload_failed: ${String(failed.reason)}`);

    expectNothingLost(counts, fleet);
    for (const at of counts.unknownAt.keys()) expect(at).toMatch(/^(c|nginx) key_version_unknown$/);
    expect(logCount(c.caas.output(), "reloaded")).toBe(0);

    // The certificate put right, the same reload applies all of it.
    deliver(c, { "tls.crt": master.path("tls.crt") });
    expect(await reload(c.caas)).toBe("reloaded");
    expect(await fingerprints(c.caas)).toEqual(await fingerprints(a.caas));
    expect(await versionsMade(newCounts(), master.apiKey, direct(c))).toEqual({ keyring: 2, secret: 1 });
  }, 30_000);
});

describe("a supervisor with two workers", () => {
  it("restarts a worker killed with SIGKILL with the supervisor's credentials, not the changed files, failing no request", async () => {
    const master = makeMaster();
    const member = await startMember(master, "w", "files", {
      CAAS_WORKERS: "2",
      CAAS_RELOAD_ON_CHANGE: "false",
      // One line per request, with the pid of the worker that answered it.
      CAAS_LOG_LEVEL: "debug",
    });
    const { caas } = member;
    await waitForLog(caas, "listening", 2);
    const fresh: Target = { label: "w", url: caas.url, keepalive: false };
    const held = await fingerprints(caas);
    expect(held).toHaveLength(1);
    expect(await versionsMade(newCounts(), master.apiKey, fresh)).toEqual({ keyring: 1, secret: 1 });

    // Changed on disk, not reloaded: a worker must not pick these up on its own.
    master.keyring("rotate", KEY, "--activate-in", "0");
    cliOk("secret", "rotate", "--activate-in", "0", master.path("secret.json"));
    distribute(master, member, ["secret.json", "keyring.json"]);

    const workers = Bun.spawnSync(["pgrep", "-P", String(caas.process.pid)])
      .stdout.toString()
      .trim()
      .split("\n")
      .map(Number);
    expect(workers).toHaveLength(2);
    const victim = workers[0] as number;
    process.kill(victim, "SIGKILL");
    await waitForLog(caas, "worker_exited");
    const traffic = startTraffic(
      [
        { seal: fresh, open: fresh },
        { seal: { ...fresh, keepalive: true }, open: { ...fresh, keepalive: true } },
      ],
      master.apiKey,
    );
    await waitForLog(caas, "listening", 3);
    const replacement = eventLines(caas, "listening")[2]?.pid;
    const servedBy = (pid: unknown, route: string) =>
      eventLines(caas, "request").filter((line) => line.pid === pid && String(line.route).includes(route)).length;
    await waitFor(() => servedBy(replacement, "/encrypt") >= 20, "the replacement worker to answer", 10_000);
    await Bun.sleep(500);
    const counts = await traffic.stop();
    console.log(
      `fleet, a worker killed: ${summary(counts)}; the replacement (pid ${replacement}) answered ${servedBy(replacement, "")} of them`,
    );

    expect(replacement).not.toBe(victim);
    expect(workers).not.toContain(replacement);
    expectNothingLost(counts, undefined);
    expect(counts.unknownVersion).toBe(0);
    // Everything was made under the versions the supervisor loaded, by the replacement too.
    expect([...counts.sealed.keys()].sort()).toEqual(["envelope v1", "keyring v1", "secret v1"]);
    expect(await fingerprints(caas)).toEqual(held);

    // A reload hands the changed files to both workers.
    expect(await reload(caas)).toBe("reloaded");
    const after = await Promise.all(Array.from({ length: 8 }, () => versionsMade(newCounts(), master.apiKey, fresh)));
    expect(new Set(after.map((made) => JSON.stringify(made)))).toEqual(new Set([JSON.stringify({ keyring: 2, secret: 2 })]));
    const reloaded = await fingerprints(caas);
    expect(reloaded).toHaveLength(1);
    expect(reloaded).not.toEqual(held);
  }, 30_000);
});
