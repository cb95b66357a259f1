/**
 * `caas keyring`: manage the named keys of the keyring file. Every command reads the root key
 * (the file is checked as the server would check it) and changes take the file's lock for the
 * whole read-modify-write. No command prints key material, wrapped or not.
 */
import type { ParseArgsConfig } from "node:util";
import { type VersionState, VersionTimeline } from "../credentials/key-versions.ts";
import { DEFAULT_KEY_TYPE, isKeyType, JWKS_MAX_AGE_SECONDS, KEY_TYPES } from "../credentials/key-types.ts";
import type { KeyringKeyInfo } from "../credentials/keyring.ts";
import {
  addRootKey,
  createKeyringKey,
  promoteKeyringVersion,
  removeRootKey,
  rotateKeyringKey,
  setMinDecryptionVersion,
  trimKeyringKey,
} from "../credentials/keyring-changes.ts";
import { listKeyring } from "../credentials/keyring-file.ts";
import { activationFrom, activationText, nextStepLine, PROMOTE_ACTIVATION, ROTATE_ACTIVATION, type VersionWords } from "./activation.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand, parseSubcommandArgs } from "./io.ts";

const KEYRING_FILE_ENV = "CAAS_KEYRING_FILE";
const ROOT_KEY_ENV = "CAAS_ROOT_KEY_FILE";
const FILES = `--file defaults to $${KEYRING_FILE_ENV}, --root-key to $${ROOT_KEY_ENV}.`;

const HELP: Readonly<Record<string, string>> = {
  keyring: `usage: caas keyring <create|rotate|promote|list|set|trim|root-key> ... [--file FILE] [--root-key FILE]

Manage the keyring: named keys caas holds and never hands out, each with versions 1..n, every
version stored wrapped under the root key (caas root-key init). ${FILES}

  caas keyring create NAME [--type TYPE] [--publish]  a new key, version 1, active
  caas keyring rotate NAME [--activate-in D | --activate-at T]
                                                     add a staged version: it decrypts, encrypts nothing yet
  caas keyring promote NAME VERSION [--in D | --at T]
                                                     VERSION encrypts from now, or from a time
  caas keyring list [--json]                         keys, versions, states, activation, dates
  caas keyring set NAME --min-decryption-version N   ciphertexts below version N stop decrypting
  caas keyring trim NAME --below N                   delete versions below N (N <= min decryption version)
  caas keyring root-key add NEW_ROOT_KEY_FILE        wrap every version also under a new root key
  caas keyring root-key remove OLD_ROOT_KEY_FILE     drop the wrapping under an old root key

Rotation runbook: rotate (the version is staged), let every instance load the file, promote
(or rotate with --activate-in 10m: every instance that loaded the file switches then), rewrap
stored ciphertexts (POST /keyring/NAME/rewrap), set the minimum decryption version to the new
one, then trim. --activate-in 0 is the one-step rotation: active at once. D is 0 or a whole
number with s, m, h or d; T is an RFC 3339 time. A running server picks up a change on its next
reload: on change (CAAS_RELOAD_ON_CHANGE) or SIGHUP. Every change takes the file's lock
(.FILE.lock beside it) and is checked with the server's own reader before it is written.

Exit codes: 0 ok, 1 no key of that name, 2 usage, 75 the file stayed locked by another command
for 10 s, 78 file error (missing, insecure, not opening under this root key, or a change refused).`,
  create: `usage: caas keyring create NAME [--type TYPE] [--publish] [--file FILE] [--root-key FILE]

Adds key NAME (1 to 64 letters, digits, '.', '_' or '-') with one fresh random version.
TYPE is what the key does, fixed for good: ${KEY_TYPES.join(", ")}
(default ${DEFAULT_KEY_TYPE}: encrypt; hmac-sha256: MACs; the others sign and verify, and make
JWTs). --publish puts a signing key's public versions in GET /.well-known/jwks.json.
The keyring file is created if absent, mode 0600. ${FILES}`,
  rotate: `usage: caas keyring rotate NAME [--activate-in DURATION | --activate-at TIME] [--file FILE] [--root-key FILE]

Adds version n+1 to NAME, staged: every server that has loaded the file decrypts with it, none
encrypts with it until it is promoted (caas keyring promote) or its activation time comes
(--activate-in 10m, --activate-at 2026-12-07T10:00:00Z; --activate-in 0 makes it active at
once). Older versions still decrypt down to the minimum decryption version. ${FILES}`,
  promote: `usage: caas keyring promote NAME VERSION [--in DURATION | --at TIME] [--file FILE] [--root-key FILE]

Makes VERSION of NAME the one that encrypts, now or at a time written in the file, so every
instance that has loaded the file switches at that moment with no reload. Promote once every
instance holds the version (the credentials fingerprint on /metrics is equal everywhere). An
older version promoted again becomes active again (a rollback); a version below the minimum
decryption version cannot be promoted. ${FILES}`,
  "root-key": `usage: caas keyring root-key <add|remove> ROOT_KEY_FILE [--file FILE] [--root-key CURRENT_ROOT_KEY_FILE]

Changes the root key the keyring is wrapped under, one instance at a time with no failed request:
  1. caas keyring root-key add NEW --root-key CURRENT   every version is wrapped under both;
     the file opens under either. Let every instance load it.
  2. Point each instance at NEW (CAAS_ROOT_KEY_FILE) and reload it, one at a time.
  3. caas keyring root-key remove CURRENT --root-key NEW   drops the old wrapping; refused if
     any version would then open under no other root key. ${FILES}`,
  list: `usage: caas keyring list [--json] [--file FILE] [--root-key FILE]

One line per key, tab-separated: name, versions (oldest-newest), min decryption version,
creation time, newest version's creation time, type (and "published" for a key in the JWKS),
then one line per version: version, state
(active, staged, decrypt-only or retired), activation ("-" for a version active since it was
written, "pending", or a time), creation time. --json prints one JSON document. ${FILES}`,
  set: `usage: caas keyring set NAME --min-decryption-version N [--file FILE] [--root-key FILE]

Ciphertexts made under versions below N no longer decrypt (400 key_version_retired); N is at
most the newest version, and not below a version already trimmed. ${FILES}`,
  trim: `usage: caas keyring trim NAME --below N [--file FILE] [--root-key FILE]

Deletes the versions of NAME below N for good; refused unless N <= its minimum decryption
version, so only versions that no longer decrypt are deleted. ${FILES}`,
};

const OPTIONS = {
  file: { type: "string" },
  "root-key": { type: "string" },
  json: { type: "boolean" },
  type: { type: "string" },
  publish: { type: "boolean" },
  "min-decryption-version": { type: "string" },
  below: { type: "string" },
  "activate-in": { type: "string" },
  "activate-at": { type: "string" },
  in: { type: "string" },
  at: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];
type OptionName = keyof typeof OPTIONS;

const COMMANDS = {
  create: { options: ["file", "root-key", "type", "publish", "help"], names: 1 },
  rotate: { options: ["file", "root-key", "activate-in", "activate-at", "help"], names: 1 },
  promote: { options: ["file", "root-key", "in", "at", "help"], names: 2 },
  list: { options: ["file", "root-key", "json", "help"], names: 0 },
  set: { options: ["file", "root-key", "min-decryption-version", "help"], names: 1 },
  trim: { options: ["file", "root-key", "below", "help"], names: 1 },
  "root-key": { options: ["file", "root-key", "help"], names: 2 },
} as const satisfies Record<string, { options: readonly OptionName[]; names: number }>;

const USAGE_OF_POSITIONALS: Readonly<Record<keyof typeof COMMANDS, string>> = {
  create: "expects exactly one NAME",
  rotate: "expects exactly one NAME",
  promote: "expects NAME and VERSION",
  list: "takes no NAME",
  set: "expects exactly one NAME",
  trim: "expects exactly one NAME",
  "root-key": "expects add or remove, and a ROOT_KEY_FILE",
};

function isSubcommand(name: string | undefined): name is keyof typeof COMMANDS {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

function pathOf(value: string | undefined, env: string, option: string, io: CliIo): string {
  const path = value ?? io.env[env];
  if (path === undefined || path === "")
    throw new UsageError(`no ${option === "--file" ? "keyring" : "root key"} file: pass ${option} FILE or set ${env}`);
  return path;
}

function versionOf(value: string | undefined, option: string): number {
  if (value === undefined) throw new UsageError(`${option} N is required`);
  if (!/^[1-9]\d{0,9}$/.test(value)) throw new UsageError(`${option} takes a version number (a whole number from 1)`);
  return Number(value);
}

function range(info: KeyringKeyInfo): string {
  const first = info.versions[0]?.version ?? 0;
  const last = info.versions.at(-1)?.version ?? 0;
  return first === last ? `${last}` : `${first}-${last}`;
}

function timelineOf(info: KeyringKeyInfo): VersionTimeline {
  return new VersionTimeline(
    info.versions.map((entry) => ({
      version: entry.version,
      activatesAt: entry.activatesAt ?? Number.NEGATIVE_INFINITY,
      retired: entry.version < info.minDecryptionVersion,
    })),
  );
}

/** The words for what a version of this key makes and what a staged one already does, by the key's type. */
function versionWords(info: KeyringKeyInfo, version: number): VersionWords {
  const words = { subject: `version ${version} of "${info.name}"`, promote: `caas keyring promote ${info.name} ${version}` };
  const type = info.type ?? DEFAULT_KEY_TYPE;
  if (type === "xaes-256-gcm") return { ...words, makes: "ciphertexts", trusted: "decrypts" };
  if (type === "hmac-sha256") return { ...words, makes: "MACs and JWTs", trusted: "verifies" };
  return { ...words, makes: "signatures and JWTs", trusted: "verifies" };
}

/**
 * A published key's version activating sooner after it was written to the file than verifiers
 * may cache the JWKS: some verifiers may not know its kid for the first tokens (until they
 * refetch). A warning, not a refusal: a rollback to an older version, or a verifier that
 * refetches on an unknown kid, is fine sooner.
 */
function jwksTooSoonLine(command: "rotate" | "promote", info: KeyringKeyInfo, version: number, activatesAt: number): string | undefined {
  const written = Date.parse(info.versions.find((entry) => entry.version === version)?.created ?? "");
  if (info.publish !== true || !Number.isFinite(written) || activatesAt - written >= JWKS_MAX_AGE_SECONDS * 1000) return undefined;
  return `caas keyring ${command}: warning: version ${version} of "${info.name}" activates ${Math.max(0, Math.round((activatesAt - written) / 1000))} s after it was staged; a verifier may hold the JWKS from before it for ${JWKS_MAX_AGE_SECONDS} s, and refuse its first tokens unless it refetches on an unknown kid. Give a later activation (--in or --at) to leave that long.`;
}

/**
 * For a published key's new staged version, what a verifier's cache asks of the promotion: a
 * verifier may hold the JWKS from before the version was served for JWKS_MAX_AGE_SECONDS.
 */
function jwksWaitLine(info: KeyringKeyInfo, state: VersionState | undefined): string | undefined {
  if (info.publish !== true || state !== "staged") return undefined;
  return `It is in /.well-known/jwks.json on every instance that has reloaded; verifiers may cache that set for ${JWKS_MAX_AGE_SECONDS} s, so let the version activate at least ${JWKS_MAX_AGE_SECONDS} s after the last instance reloaded.`;
}

export async function runKeyringCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.keyring ?? "");
    return EXIT_OK;
  }
  if (!isSubcommand(command)) {
    io.err(
      command === undefined
        ? "caas keyring: missing command (create, rotate, promote, list, set, trim or root-key); see caas keyring --help"
        : unknownCommand("caas keyring", command, Object.keys(COMMANDS), "; expected create, rotate, promote, list, set, trim or root-key"),
    );
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseSubcommandArgs(rest, OPTIONS, COMMANDS[command].options);
    if (values.help === true) {
      io.out(HELP[command] ?? "");
      return EXIT_OK;
    }
    if (positionals.length !== COMMANDS[command].names) throw new UsageError(USAGE_OF_POSITIONALS[command]);
    const name = positionals[0] ?? "";
    const path = pathOf(values.file, KEYRING_FILE_ENV, "--file", io);
    const rootKey = pathOf(values["root-key"], ROOT_KEY_ENV, "--root-key", io);
    switch (command) {
      case "create": {
        const type = values.type ?? DEFAULT_KEY_TYPE;
        if (!isKeyType(type)) throw new UsageError(`--type takes one of ${KEY_TYPES.join(", ")}`);
        await createKeyringKey(path, rootKey, { name, type, publish: values.publish === true });
        io.out(
          `created ${type} key "${name}" (version 1${values.publish === true ? ", published in the JWKS" : ""}) in ${path}; a running server offers it on its next reload (SIGHUP).`,
        );
        return EXIT_OK;
      }
      case "rotate": {
        const activatesAt = activationFrom(values, ROTATE_ACTIVATION, Number.POSITIVE_INFINITY);
        const info = await rotateKeyringKey(path, rootKey, name, activatesAt);
        const added = info.versions.at(-1)?.version ?? 0;
        const state = timelineOf(info).stateOf(added, Date.now());
        io.out(nextStepLine(versionWords(info, added), state, activatesAt));
        const wait = jwksWaitLine(info, state);
        if (wait !== undefined) io.out(wait);
        const early = jwksTooSoonLine("rotate", info, added, activatesAt);
        if (early !== undefined) io.err(early);
        return EXIT_OK;
      }
      case "promote": {
        const version = versionOf(positionals[1], "VERSION");
        const activatesAt = activationFrom(values, PROMOTE_ACTIVATION, Date.now());
        const info = await promoteKeyringVersion(path, rootKey, name, { version, activatesAt });
        io.out(nextStepLine(versionWords(info, version), timelineOf(info).stateOf(version, Date.now()), activatesAt));
        const early = jwksTooSoonLine("promote", info, version, activatesAt);
        if (early !== undefined) io.err(early);
        return EXIT_OK;
      }
      case "root-key": {
        const other = positionals[1] ?? "";
        if (name === "add") {
          const { versions } = await addRootKey(path, rootKey, other);
          io.out(
            `${path}: ${versions} version(s) wrapped also under ${other}; the file opens under either root key. Move each instance to it (CAAS_ROOT_KEY_FILE, then reload), then: caas keyring root-key remove ${rootKey} --root-key ${other}`,
          );
          return EXIT_OK;
        }
        if (name === "remove") {
          const { versions } = await removeRootKey(path, rootKey, other);
          io.out(`${path}: the wrapping under ${other} removed from ${versions} version(s); the file opens under ${rootKey} alone.`);
          return EXIT_OK;
        }
        throw new UsageError("expects add or remove, and a ROOT_KEY_FILE");
      }
      case "list": {
        const keys = await listKeyring(path, rootKey);
        const now = Date.now();
        if (values.json === true) {
          io.out(
            JSON.stringify({
              keys: keys.map((info) => {
                const timeline = timelineOf(info);
                return {
                  name: info.name,
                  type: info.type ?? DEFAULT_KEY_TYPE,
                  publish: info.publish === true,
                  created: info.created,
                  newest_version: info.versions.at(-1)?.version,
                  active_version: timeline.activeAt(now) ?? null,
                  min_decryption_version: info.minDecryptionVersion,
                  versions: info.versions.map((entry) => ({
                    version: entry.version,
                    created: entry.created,
                    state: timeline.stateOf(entry.version, now),
                    activation: entry.activatesAt === undefined ? null : activationText(entry.activatesAt),
                  })),
                };
              }),
            }),
          );
        } else {
          for (const info of keys) {
            const timeline = timelineOf(info);
            io.out(
              `${info.name}\tversions ${range(info)}\tmin ${info.minDecryptionVersion}\t${info.created}\t${info.versions.at(-1)?.created ?? ""}\t${info.type ?? DEFAULT_KEY_TYPE}${info.publish === true ? "\tpublished" : ""}`,
            );
            for (const entry of info.versions)
              io.out(
                `  ${entry.version}\t${timeline.stateOf(entry.version, now)}\t${activationText(entry.activatesAt ?? Number.NEGATIVE_INFINITY)}\t${entry.created}`,
              );
          }
        }
        return EXIT_OK;
      }
      case "set": {
        const version = versionOf(values["min-decryption-version"], "--min-decryption-version");
        await setMinDecryptionVersion(path, rootKey, name, version);
        io.out(`"${name}" in ${path}: ciphertexts below version ${version} no longer decrypt once the server reloads (SIGHUP).`);
        return EXIT_OK;
      }
      case "trim": {
        const below = versionOf(values.below, "--below");
        const { deleted } = await trimKeyringKey(path, rootKey, name, below);
        io.out(
          deleted.length === 0
            ? `"${name}" in ${path} has no versions below ${below}; nothing deleted.`
            : `deleted versions ${deleted.join(", ")} of "${name}" from ${path}.`,
        );
        return EXIT_OK;
      }
    }
  } catch (error) {
    return commandFailed(io, error, {
      prefix: `caas keyring ${command}`,
      help: `caas keyring ${command} --help`,
      options: COMMANDS[command].options,
    });
  }
}
