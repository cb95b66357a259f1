/**
 * `caas secret`: create, rotate, list and retire the versions of the pseudonym server secret
 * file. Never prints a secret.
 */

import type { ParseArgsConfig } from "node:util";
import { initSecretFile, loadSecretRing, retireSecretVersion, rotateSecretFile, type SecretVersion } from "../credentials/secret-ring.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand, parseSubcommandArgs } from "./io.ts";

const SECRET_FILE_ENV = "CAAS_SECRET_FILE";

const HELP: Readonly<Record<string, string>> = {
  secret: `usage: caas secret <init|rotate|list|retire> ... [FILE]

Manage the server secret that keys every pseudonym. FILE defaults to $${SECRET_FILE_ENV}.

  caas secret init FILE             write a new random 256-bit secret (version 1), mode 0600
  caas secret rotate FILE           add a new version; the newest makes pseudonyms, the others verify
  caas secret list [--json] FILE    versions, which is current, created and retired dates
  caas secret retire VERSION FILE   the version stops verifying (not the current one)

Rotate, retire and init take the file's lock (.FILE.lock beside it), so changes run at once each
keep their own. A symbolic link is followed: the file it points to is the one written. The file
and its directory must belong to you or root and be writable by nobody else. A running server
picks up a change when it restarts or reloads (SIGHUP).

Exit codes: 0 ok, 1 no such version, or the current one (retire), 2 usage, 75 the file stayed
locked by another command for 10 s, 78 file error (also: a rotation past version 2147483647, or
any change the server could not load, is refused).`,
  init: `usage: caas secret init [FILE]

Writes a new random 256-bit secret to FILE with mode 0600. Refuses to overwrite an existing
file: losing a secret makes every pseudonym made under it unverifiable. Point the server at it
with ${SECRET_FILE_ENV}=FILE.`,
  rotate: `usage: caas secret rotate [FILE]

Adds a new secret version to FILE, atomically (a 0600 temporary file renamed over it). New
pseudonyms use the new version once the server restarts or reloads; those made under older versions keep
verifying. Refuses a file that group or others can read. Rotations run at once wait for each
other (up to 10 s) and each adds its own version.`,
  list: `usage: caas secret list [--json] [FILE]

One line per version, tab-separated: version, state (current: makes pseudonyms; verifies; or
retired), creation time and, for a retired version, when it was retired. --json prints one
JSON document instead. Never a secret.`,
  retire: `usage: caas secret retire VERSION [FILE]

Marks VERSION retired: once the server restarts or reloads (SIGHUP), pseudonyms made under it
no longer verify (/verify answers match: false). Retire a version once no stored pseudonym
needs it. The current version, which makes pseudonyms, cannot be retired (rotate first); a
version already retired is left as it was. Its secret stays in the file. Exits 1 for a version
the file does not hold or the current one.`,
};

const OPTIONS = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];
type OptionName = keyof typeof OPTIONS;

/** Which options and how many arguments before FILE each command takes; anything else is a usage error. */
const COMMANDS = {
  init: { options: ["help"], arguments: 0 },
  rotate: { options: ["help"], arguments: 0 },
  list: { options: ["json", "help"], arguments: 0 },
  retire: { options: ["help"], arguments: 1 },
} as const satisfies Record<string, { options: readonly OptionName[]; arguments: number }>;

function isSubcommand(name: string | undefined): name is keyof typeof COMMANDS {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

function versionOf(value: string | undefined): number {
  if (value === undefined || !/^[1-9]\d{0,9}$/.test(value)) throw new UsageError("expects a VERSION (a whole number from 1) before FILE");
  return Number(value);
}

function stateOf(entry: SecretVersion, current: SecretVersion): "current" | "verifies" | "retired" {
  if (entry === current) return "current";
  return entry.retired === undefined ? "verifies" : "retired";
}

export async function runSecretCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.secret ?? "");
    return EXIT_OK;
  }
  if (!isSubcommand(command)) {
    io.err(
      command === undefined
        ? "caas secret: missing command (init, rotate, list or retire); see caas secret --help"
        : unknownCommand("caas secret", command, Object.keys(COMMANDS), "; expected init, rotate, list or retire"),
    );
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseSubcommandArgs(rest, OPTIONS, COMMANDS[command].options);
    if (values.help === true) {
      io.out(HELP[command] ?? "");
      return EXIT_OK;
    }
    const taken = COMMANDS[command].arguments;
    if (positionals.length > taken + 1) throw new UsageError(taken === 0 ? "expects one FILE" : "expects VERSION and one FILE");
    const version = taken === 0 ? 0 : versionOf(positionals[0]);
    const path = positionals[taken] ?? io.env[SECRET_FILE_ENV];
    if (path === undefined || path === "") throw new UsageError(`no secret file: pass FILE or set ${SECRET_FILE_ENV}`);
    switch (command) {
      case "init": {
        await initSecretFile(path);
        io.out(`wrote a new secret (version 1) to ${path} with mode 0600; start the server with ${SECRET_FILE_ENV}=${path}`);
        return EXIT_OK;
      }
      case "rotate": {
        const ring = await rotateSecretFile(path);
        io.out(
          `added secret version ${ring.newest.version} to ${path}; the server makes pseudonyms with it once it restarts or reloads. ` +
            `Versions ${ring.verifying.map((v) => v.version).join(", ")} all verify.`,
        );
        return EXIT_OK;
      }
      case "list": {
        const ring = await loadSecretRing(path);
        if (values.json === true)
          io.out(
            JSON.stringify({
              current_version: ring.newest.version,
              versions: ring.versions.map((entry) => ({
                version: entry.version,
                state: stateOf(entry, ring.newest),
                created: entry.created,
                retired: entry.retired ?? null,
              })),
            }),
          );
        else
          for (const entry of ring.versions)
            io.out(
              [entry.version, stateOf(entry, ring.newest), entry.created, ...(entry.retired === undefined ? [] : [entry.retired])].join(
                "\t",
              ),
            );
        return EXIT_OK;
      }
      case "retire": {
        const retired = await retireSecretVersion(path, version);
        io.out(
          `secret version ${version} in ${path} is retired (since ${retired.retired}); pseudonyms made under it stop verifying once the server restarts or reloads (SIGHUP).`,
        );
        return EXIT_OK;
      }
    }
  } catch (error) {
    return commandFailed(io, `caas secret ${command}`, error, `caas secret ${command} --help`, COMMANDS[command].options);
  }
}
