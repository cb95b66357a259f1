/**
 * `caas keyring`: manage the named keys of the keyring file. Every command reads the root key
 * (the file is checked as the server would check it) and changes take the file's lock for the
 * whole read-modify-write. No command prints key material, wrapped or not.
 */
import type { ParseArgsConfig } from "node:util";
import {
  createKeyringKey,
  type KeyringKeyInfo,
  listKeyring,
  rotateKeyringKey,
  setMinDecryptionVersion,
  trimKeyringKey,
} from "../credentials/keyring.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand, parseSubcommandArgs } from "./io.ts";

const KEYRING_FILE_ENV = "CAAS_KEYRING_FILE";
const ROOT_KEY_ENV = "CAAS_ROOT_KEY_FILE";
const FILES = `--file defaults to $${KEYRING_FILE_ENV}, --root-key to $${ROOT_KEY_ENV}.`;

const HELP: Readonly<Record<string, string>> = {
  keyring: `usage: caas keyring <create|rotate|list|set|trim> ... [--file FILE] [--root-key FILE]

Manage the keyring: named keys caas holds and never hands out, each with versions 1..n, every
version stored wrapped under the root key (caas root-key init). ${FILES}

  caas keyring create NAME                           a new key, version 1
  caas keyring rotate NAME                           add a version; it encrypts from now on
  caas keyring list [--json]                         names, versions, min decryption version, dates
  caas keyring set NAME --min-decryption-version N   ciphertexts below version N stop decrypting
  caas keyring trim NAME --below N                   delete versions below N (N <= min decryption version)

Rotation runbook: rotate, rewrap stored ciphertexts (POST /keyring/NAME/rewrap), set the
minimum decryption version to the new one, then trim. A running server picks up a change on
its next reload (SIGHUP). Every change takes the file's lock (.FILE.lock beside it) and is
checked with the server's own reader before it is written.

Exit codes: 0 ok, 1 no key of that name, 2 usage, 75 the file stayed locked by another command
for 10 s, 78 file error (missing, insecure, not opening under this root key, or a change refused).`,
  create: `usage: caas keyring create NAME [--file FILE] [--root-key FILE]

Adds key NAME (1 to 64 letters, digits, '.', '_' or '-') with one fresh random version.
The keyring file is created if absent, mode 0600. ${FILES}`,
  rotate: `usage: caas keyring rotate NAME [--file FILE] [--root-key FILE]

Adds version n+1 to NAME; once the server reloads it encrypts with it. Older versions still
decrypt down to the minimum decryption version. ${FILES}`,
  list: `usage: caas keyring list [--json] [--file FILE] [--root-key FILE]

One line per key, tab-separated: name, versions (oldest-newest), min decryption version,
creation time, newest version's creation time. --json prints one JSON document. ${FILES}`,
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
  "min-decryption-version": { type: "string" },
  below: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];
type OptionName = keyof typeof OPTIONS;

const COMMANDS = {
  create: { options: ["file", "root-key", "help"], names: 1 },
  rotate: { options: ["file", "root-key", "help"], names: 1 },
  list: { options: ["file", "root-key", "json", "help"], names: 0 },
  set: { options: ["file", "root-key", "min-decryption-version", "help"], names: 1 },
  trim: { options: ["file", "root-key", "below", "help"], names: 1 },
} as const satisfies Record<string, { options: readonly OptionName[]; names: number }>;

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

export async function runKeyringCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.keyring ?? "");
    return EXIT_OK;
  }
  if (!isSubcommand(command)) {
    io.err(
      command === undefined
        ? "caas keyring: missing command (create, rotate, list, set or trim); see caas keyring --help"
        : unknownCommand("caas keyring", command, Object.keys(COMMANDS), "; expected create, rotate, list, set or trim"),
    );
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseSubcommandArgs(rest, OPTIONS, COMMANDS[command].options);
    if (values.help === true) {
      io.out(HELP[command] ?? "");
      return EXIT_OK;
    }
    if (positionals.length !== COMMANDS[command].names)
      throw new UsageError(COMMANDS[command].names === 0 ? "takes no NAME" : "expects exactly one NAME");
    const name = positionals[0] ?? "";
    const path = pathOf(values.file, KEYRING_FILE_ENV, "--file", io);
    const rootKey = pathOf(values["root-key"], ROOT_KEY_ENV, "--root-key", io);
    switch (command) {
      case "create": {
        await createKeyringKey(path, rootKey, name);
        io.out(`created key "${name}" (version 1) in ${path}; a running server offers it on its next reload (SIGHUP).`);
        return EXIT_OK;
      }
      case "rotate": {
        const info = await rotateKeyringKey(path, rootKey, name);
        io.out(
          `added version ${info.versions.at(-1)?.version} to "${name}" in ${path}; it encrypts once the server reloads (SIGHUP). Versions ${range(info)} are kept, ${info.minDecryptionVersion} and up decrypt.`,
        );
        return EXIT_OK;
      }
      case "list": {
        const keys = await listKeyring(path, rootKey);
        if (values.json === true) {
          io.out(
            JSON.stringify({
              keys: keys.map((info) => ({
                name: info.name,
                created: info.created,
                newest_version: info.versions.at(-1)?.version,
                min_decryption_version: info.minDecryptionVersion,
                versions: info.versions,
              })),
            }),
          );
        } else {
          for (const info of keys)
            io.out(
              `${info.name}\tversions ${range(info)}\tmin ${info.minDecryptionVersion}\t${info.created}\t${info.versions.at(-1)?.created ?? ""}`,
            );
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
    return commandFailed(io, `caas keyring ${command}`, error, `caas keyring ${command} --help`, COMMANDS[command].options);
  }
}
