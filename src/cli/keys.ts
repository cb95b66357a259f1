/**
 * `caas keys`: manage the API keys file. Only `keys add` ever prints a key, once, on the last
 * line of stdout, so `caas keys add NAME --file F | tail -n 1` captures it and nothing else.
 */

import { readFile } from "node:fs/promises";
import type { ParseArgsConfig } from "node:util";
import { errnoReason } from "../files/errno.ts";
import { addKey, importKey, listKeys, removeKey } from "../credentials/key-changes.ts";
import { API_KEY_PROFILES, type ApiKeyProfile, DEFAULT_PROFILE, isApiKeyProfile } from "../credentials/keys-file.ts";
import { DEFAULT_SCOPES, isValidScope, SCOPE_FORMS } from "../credentials/scopes.ts";
import { UsageError } from "../errors.ts";
import { StoreFileError } from "../files/store-errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand, parseSubcommandArgs } from "./io.ts";

const KEYS_FILE_ENV = "CAAS_API_KEYS_FILE";

const HELP: Readonly<Record<string, string>> = {
  keys: `usage: caas keys <add|import|list|remove> ... [--file FILE]

Manage the API keys file. The file keeps only a SHA-256 hash of each key, with its name,
profile and creation time. --file defaults to $${KEYS_FILE_ENV}.

  caas keys add NAME [--profile standard|django-compat] [--scope SCOPE ...] --file FILE
  caas keys import NAME --key-file PATH|--key VALUE [--profile ...] [--scope SCOPE ...] --file FILE
  caas keys list [--json] --file FILE
  caas keys remove NAME --file FILE

Commands that change the file take its lock (.FILE.lock beside it) for the whole change, so
commands run at once never lose one another's changes; a symbolic link is followed and the
file it points to updated. Run 'caas keys <command> --help' for one command.

Scopes (--scope, repeatable) say what a key may do: pseudonym (/encrypt, /encode, /verify),
oracle (the oracle, when CAAS_ORACLE_REQUIRE_KEY is on), keyring:NAME (every operation on
keyring key NAME) or keyring:NAME:OP with OP one of encrypt, decrypt, rewrap, datakey, or
datakey-wrapped (datakey with {"plaintext": false} only: the key never leaves caas in clear). A
key added without --scope, or stored before scopes existed, has pseudonym only.

Exit codes: 0 ok, 1 no key of that name (remove), 2 usage, 74 stdout closed (add: the key
was not kept), 75 the file stayed locked by another command for 10 s, 78 file error.`,
  add: `usage: caas keys add NAME [--profile standard|django-compat] [--scope SCOPE ...] [--file FILE]

Creates a random key (caas_ and 32 random bytes in base64url), stores its hash under NAME and
prints the key on the last line of stdout. It is shown this once only: store it now.
--profile defaults to ${DEFAULT_PROFILE}; --scope (repeatable) to pseudonym; --file to $${KEYS_FILE_ENV}.
The file is created if absent, written with mode 0600, and a name already in it is refused.
If the key cannot be written to stdout (a closed pipe), it is taken out of the file again and
the command exits 74: no key is kept that nobody was shown.`,
  import: `usage: caas keys import NAME (--key-file PATH | --key VALUE) [--profile standard|django-compat] [--scope SCOPE ...] [--file FILE]

Stores the hash of an existing key (printable ASCII, at most 512 characters; at least 16 for
the standard profile, any length for django-compat, whose original clients keep their key) under NAME, for a
client that already holds a key, such as the Django original's main server.
--key-file reads the key from a file, one trailing newline dropped; /dev/stdin reads a pipe
(printf %s "$KEY" | caas keys import NAME --key-file /dev/stdin). Prefer it: --key VALUE puts
the key on the command line, where other local users can see it (ps).`,
  list: `usage: caas keys list [--json] [--file FILE]

Prints one line per key: name, profile, creation time and scopes (comma-separated),
tab-separated. --json prints one JSON document instead. Never a key or hash.`,
  remove: `usage: caas keys remove NAME [--file FILE]

Removes the key named NAME. A running server drops it on its next reload (SIGHUP).
Exits 1 when the file holds no key named NAME, or does not exist.`,
};

const OPTIONS = {
  file: { type: "string" },
  profile: { type: "string" },
  key: { type: "string" },
  "key-file": { type: "string" },
  json: { type: "boolean" },
  scope: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];
type OptionName = keyof typeof OPTIONS;

/** Which options and how many NAMEs each command takes; anything else is a usage error. */
const COMMANDS = {
  add: { options: ["file", "profile", "scope", "help"], names: 1 },
  import: { options: ["file", "profile", "scope", "key", "key-file", "help"], names: 1 },
  list: { options: ["file", "json", "help"], names: 0 },
  remove: { options: ["file", "help"], names: 1 },
} as const satisfies Record<string, { options: readonly OptionName[]; names: number }>;

function isSubcommand(name: string | undefined): name is keyof typeof COMMANDS {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

function keysFile(file: string | undefined, io: CliIo): string {
  const path = file ?? io.env[KEYS_FILE_ENV];
  if (path === undefined || path === "") throw new UsageError(`no keys file: pass --file FILE or set ${KEYS_FILE_ENV}`);
  return path;
}

function profileOf(value: string | undefined): ApiKeyProfile {
  if (value === undefined) return DEFAULT_PROFILE;
  if (!isApiKeyProfile(value)) throw new UsageError(`--profile must be one of: ${API_KEY_PROFILES.join(", ")}`);
  return value;
}

/** The --scope values, checked before the file is touched; none given: pseudonym, what every key could do before scopes. */
function scopesOf(values: readonly string[] | undefined): readonly string[] {
  if (values === undefined || values.length === 0) return DEFAULT_SCOPES;
  for (const scope of values) {
    if (!isValidScope(scope)) throw new UsageError(`--scope takes ${SCOPE_FORMS}`);
  }
  return values;
}

/** The key to import, from exactly one of --key and --key-file (which keeps it out of ps). */
async function keyToImport(inline: string | undefined, file: string | undefined): Promise<string> {
  if ((inline === undefined) === (file === undefined))
    throw new UsageError("give the key with exactly one of --key-file PATH or --key VALUE");
  if (file === undefined) return inline ?? "";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    // A file error, like the keys file's own: exit 78.
    throw new StoreFileError(
      { store: "key_file", problem: "unreadable", path: file },
      `--key-file: cannot read '${file}' (${errnoReason(error)})`,
    );
  }
  // What `echo KEY > file` and a pipe add; any other whitespace stays and is refused as not printable.
  return text.replace(/\r?\n$/, "");
}

export async function runKeysCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.keys ?? "");
    return EXIT_OK;
  }
  if (!isSubcommand(command)) {
    io.err(
      command === undefined
        ? "caas keys: missing command (add, import, list or remove); see caas keys --help"
        : unknownCommand("caas keys", command, Object.keys(COMMANDS), "; expected add, import, list or remove"),
    );
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseSubcommandArgs(rest, OPTIONS, COMMANDS[command].options);
    if (values.help === true) {
      io.out(HELP[command] ?? "");
      return EXIT_OK;
    }
    if (positionals.length !== COMMANDS[command].names) {
      throw new UsageError(COMMANDS[command].names === 0 ? "takes no NAME" : "expects exactly one NAME");
    }
    const name = positionals[0] ?? "";
    const path = keysFile(values.file, io);
    switch (command) {
      case "add": {
        const profile = profileOf(values.profile);
        const scopes = scopesOf(values.scope);
        // Shown while the file is still locked, so a key that cannot be shown is taken out again.
        await addKey(path, {
          name,
          profile,
          scopes,
          show: (key) => {
            io.out(`added key "${name}" (profile ${profile}, scopes ${scopes.join(",")}) to ${path}; only its hash is stored.`);
            io.out("This is the only time the key is shown; store it now:");
            io.out(key);
          },
        });
        return EXIT_OK;
      }
      case "import": {
        const key = await keyToImport(values.key, values["key-file"]);
        const profile = profileOf(values.profile);
        const scopes = scopesOf(values.scope);
        await importKey(path, { name, key, profile, scopes });
        io.out(`imported key "${name}" (profile ${profile}, scopes ${scopes.join(",")}) into ${path}; only its hash is stored.`);
        return EXIT_OK;
      }
      case "list": {
        const records = await listKeys(path);
        // Each field picked by name: a record never carries a hash, and a field added to it later is not listed by accident.
        if (values.json === true)
          io.out(
            JSON.stringify({
              keys: records.map(({ name, profile, created, scopes }) => ({ name, profile, created, scopes })),
            }),
          );
        else for (const record of records) io.out(`${record.name}\t${record.profile}\t${record.created}\t${record.scopes.join(",")}`);
        return EXIT_OK;
      }
      case "remove": {
        await removeKey(path, name);
        io.out(`removed key "${name}" from ${path}; a running server drops it on its next reload (SIGHUP).`);
        return EXIT_OK;
      }
    }
  } catch (error) {
    return commandFailed(io, error, {
      prefix: `caas keys ${command}`,
      help: `caas keys ${command} --help`,
      options: COMMANDS[command].options,
    });
  }
}
