/**
 * `caas secret`: create, rotate, list and retire the versions of the pseudonym server secret
 * file. Never prints a secret.
 */

import type { ParseArgsConfig } from "node:util";
import {
  initSecretFile,
  loadSecretRing,
  promoteSecretVersion,
  retireSecretVersion,
  rotateSecretFile,
  type SecretRing,
  type SecretVersion,
} from "../credentials/secret-ring.ts";
import { activationFrom, activationText, nextStepLine, PROMOTE_ACTIVATION, ROTATE_ACTIVATION } from "./activation.ts";
import { UsageError } from "../errors.ts";
import { commandFailed } from "./exit-codes.ts";
import { type CliIo, EXIT_OK, EXIT_USAGE, unknownCommand, parseSubcommandArgs } from "./io.ts";

const SECRET_FILE_ENV = "CAAS_SECRET_FILE";

const HELP: Readonly<Record<string, string>> = {
  secret: `usage: caas secret <init|rotate|promote|list|retire> ... [FILE]

Manage the server secret that keys every pseudonym. FILE defaults to $${SECRET_FILE_ENV}.

  caas secret init FILE                         a new random 256-bit secret (version 1), mode 0600
  caas secret rotate FILE [--activate-in D | --activate-at T]
                                                add a staged version: it verifies, makes nothing yet
  caas secret promote VERSION FILE [--in D | --at T]
                                                VERSION makes pseudonyms from now, or from a time
  caas secret list [--json] FILE                versions, states, activation, created and retired dates
  caas secret retire VERSION FILE               the version stops verifying (not the active one)

A fleet rotates in two steps, so no instance makes a pseudonym another cannot verify: rotate
(the new version is staged), let every instance load the file, then promote (or rotate with
--activate-in, and every instance that loaded the file switches at that moment). D is 0 or a
whole number with s, m, h or d (90s, 10m, 24h); T is an RFC 3339 time (2026-12-07T10:00:00Z).
--activate-in 0 is the one-step rotation: active at once.

Rotate, promote, retire and init take the file's lock (.FILE.lock beside it), so changes run at
once each keep their own. A symbolic link is followed: the file it points to is the one written.
The file and its directory must belong to you or root and be writable by nobody else. A running
server picks up a change on its next reload: on change (CAAS_RELOAD_ON_CHANGE) or SIGHUP.

Exit codes: 0 ok, 1 no such version, or the active one (retire), 2 usage, 75 the file stayed
locked by another command for 10 s, 78 file error (also: a rotation past version 2147483647, or
any change the server could not load, is refused).`,
  init: `usage: caas secret init [FILE]

Writes a new random 256-bit secret to FILE with mode 0600. Refuses to overwrite an existing
file: losing a secret makes every pseudonym made under it unverifiable. Point the server at it
with ${SECRET_FILE_ENV}=FILE.`,
  rotate: `usage: caas secret rotate [--activate-in DURATION | --activate-at TIME] [FILE]

Adds a new secret version to FILE, atomically (a 0600 temporary file renamed over it). The new
version is staged: once a server has loaded it, it verifies, and makes no pseudonym until it is
promoted (caas secret promote) or its activation time comes (--activate-in 10m, --activate-at
2026-12-07T10:00:00Z; --activate-in 0 makes it active at once). Pseudonyms made under older
versions keep verifying. Refuses a file that group or others can read. Rotations run at once
wait for each other (up to 10 s) and each adds its own version.`,
  promote: `usage: caas secret promote VERSION [--in DURATION | --at TIME] [FILE]

Makes VERSION the one that makes pseudonyms, now or at a time written in the file, so every
instance that has loaded the file switches at that moment with no reload. Promote once every
instance holds the version (the credentials fingerprint on /metrics is equal everywhere). An
older version promoted again becomes active again (a rollback). A retired version cannot be
promoted. Exits 1 for a version the file does not hold.`,
  list: `usage: caas secret list [--json] [FILE]

One line per version, tab-separated: version, state (active: makes pseudonyms; staged: verifies,
makes nothing yet; decrypt-only: verifies, was active; retired: verifies nothing), activation
("-" for a version active since it was written, "pending", or a time), creation time and, for a
retired version, when it was retired. --json prints one JSON document instead. Never a secret.`,
  retire: `usage: caas secret retire VERSION [FILE]

Marks VERSION retired: once the server restarts or reloads (SIGHUP), pseudonyms made under it
no longer verify (/verify answers match: false). Retire a version once no stored pseudonym
needs it. The active version, which makes pseudonyms, cannot be retired (rotate first); a
version already retired is left as it was. Its secret stays in the file. Exits 1 for a version
the file does not hold or the current one.`,
};

const OPTIONS = {
  json: { type: "boolean" },
  "activate-in": { type: "string" },
  "activate-at": { type: "string" },
  in: { type: "string" },
  at: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];
type OptionName = keyof typeof OPTIONS;

/** Which options and how many arguments before FILE each command takes; anything else is a usage error. */
const COMMANDS = {
  init: { options: ["help"], arguments: 0 },
  rotate: { options: ["activate-in", "activate-at", "help"], arguments: 0 },
  promote: { options: ["in", "at", "help"], arguments: 1 },
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

function stateOf(ring: SecretRing, entry: SecretVersion, now: number): string {
  return ring.timeline.stateOf(entry.version, now) ?? "retired";
}

function wordsFor(version: number, path: string) {
  return {
    subject: `secret version ${version}`,
    makes: "pseudonyms",
    trusted: "verifies",
    promote: `caas secret promote ${version} ${path}`,
  };
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
        ? "caas secret: missing command (init, rotate, promote, list or retire); see caas secret --help"
        : unknownCommand("caas secret", command, Object.keys(COMMANDS), "; expected init, rotate, promote, list or retire"),
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
        const activatesAt = activationFrom(values, ROTATE_ACTIVATION, Number.POSITIVE_INFINITY);
        const ring = await rotateSecretFile(path, activatesAt);
        const added = ring.newest.version;
        io.out(nextStepLine(wordsFor(added, path), ring.timeline.stateOf(added, Date.now()), activatesAt));
        return EXIT_OK;
      }
      case "promote": {
        const activatesAt = activationFrom(values, PROMOTE_ACTIVATION, Date.now());
        const ring = await promoteSecretVersion(path, version, activatesAt);
        io.out(nextStepLine(wordsFor(version, path), ring.timeline.stateOf(version, Date.now()), activatesAt));
        return EXIT_OK;
      }
      case "list": {
        const ring = await loadSecretRing(path);
        const now = Date.now();
        const activation = (entry: SecretVersion) => activationText(entry.activatesAt ?? Number.NEGATIVE_INFINITY);
        if (values.json === true)
          io.out(
            JSON.stringify({
              active_version: ring.active(now).version,
              versions: ring.versions.map((entry) => ({
                version: entry.version,
                state: stateOf(ring, entry, now),
                activation: activation(entry) === "-" ? null : activation(entry),
                created: entry.created,
                retired: entry.retired ?? null,
              })),
            }),
          );
        else
          for (const entry of ring.versions)
            io.out(
              [
                entry.version,
                stateOf(ring, entry, now),
                activation(entry),
                entry.created,
                ...(entry.retired === undefined ? [] : [entry.retired]),
              ].join("\t"),
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
    return commandFailed(io, error, {
      prefix: `caas secret ${command}`,
      help: `caas secret ${command} --help`,
      options: COMMANDS[command].options,
    });
  }
}
