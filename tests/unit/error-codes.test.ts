/**
 * Every error code caas has, with the HTTP status a request refused with it gets and the exit
 * status a command that fails with it ends with. The table below is the promise: a code that
 * changes, appears or goes away fails here, and every status in it is the one the docs give
 * (docs/api.md's error table for HTTP, docs/configuration.md's exit table for commands).
 */
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EXIT_STATUS_OF } from "../../src/cli/exit-codes.ts";
import { STATUS_OF } from "../../src/http/error-answers.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** [code, HTTP status or undefined for a code no request can get, exit status]. */
const CODES: readonly (readonly [string, number | undefined, number])[] = [
  ["append_failed", undefined, 70],
  ["audit_unavailable", 503, 1],
  ["authentication_failed", 400, 1],
  ["batch_too_large", 413, 1],
  ["body_too_large", 413, 1],
  ["busy", 503, 1],
  ["config_error", undefined, 78],
  ["empty_body", 400, 1],
  ["forbidden", 403, 1],
  ["invalid_body", 400, 1],
  ["invalid_ciphertext", 400, 1],
  ["invalid_encoding", 400, 1],
  ["invalid_json", 400, 1],
  ["invalid_key_argument", undefined, 2],
  ["invalid_keyring_argument", undefined, 2],
  ["invalid_signature", 400, 1],
  ["invalid_target", 400, 1],
  ["invalid_text", 400, 1],
  ["invalid_utf8", 400, 1],
  ["invalid_uuid", 400, 1],
  ["key_already_stored", undefined, 78],
  ["key_file_unreadable", undefined, 78],
  ["key_name_taken", undefined, 78],
  ["key_not_found", undefined, 1],
  ["key_not_shown", undefined, 74],
  ["key_version_retired", 400, 1],
  ["key_version_unknown", 503, 1],
  ["keyring_file_busy", undefined, 75],
  ["keyring_file_exists", undefined, 78],
  ["keyring_file_insecure", undefined, 78],
  ["keyring_file_invalid", undefined, 78],
  ["keyring_file_missing", undefined, 78],
  ["keyring_file_refused", undefined, 78],
  ["keyring_file_unreadable", undefined, 78],
  ["keyring_file_unwritable", undefined, 78],
  ["keyring_key_exists", undefined, 78],
  ["keyring_key_not_found", undefined, 1],
  ["keyring_root_key_mismatch", undefined, 78],
  ["keys_file_busy", undefined, 75],
  ["keys_file_insecure", undefined, 78],
  ["keys_file_invalid", undefined, 78],
  ["keys_file_missing", undefined, 78],
  ["keys_file_refused", undefined, 78],
  ["keys_file_unreadable", undefined, 78],
  ["keys_file_unwritable", undefined, 78],
  ["method_not_allowed", 405, 1],
  ["not_found", 404, 1],
  ["not_ready", 503, 1],
  ["output_failed", undefined, 74],
  ["plaintext_not_utf8", 400, 1],
  ["private_file_failed", undefined, 70],
  ["rate_limited", 429, 1],
  ["root_key_exists", undefined, 78],
  ["root_key_insecure", undefined, 78],
  ["root_key_invalid", undefined, 78],
  ["root_key_missing", undefined, 78],
  ["root_key_unreadable", undefined, 78],
  ["root_key_unwritable", undefined, 78],
  ["secret_file_busy", undefined, 75],
  ["secret_file_exists", undefined, 78],
  ["secret_file_insecure", undefined, 78],
  ["secret_file_invalid", undefined, 78],
  ["secret_file_missing", undefined, 78],
  ["secret_file_refused", undefined, 78],
  ["secret_file_unreadable", undefined, 78],
  ["secret_file_unwritable", undefined, 78],
  ["secret_version_current", undefined, 1],
  ["secret_version_not_found", undefined, 1],
  ["secret_version_retired", 400, 1],
  ["secret_version_unknown", 503, 1],
  ["state_directory_exists", undefined, 78],
  ["state_directory_insecure", undefined, 78],
  ["state_directory_invalid", undefined, 78],
  ["state_directory_missing", undefined, 78],
  ["state_directory_unreadable", undefined, 78],
  ["state_directory_unwritable", undefined, 78],
  ["unauthorized", 401, 1],
  ["unknown_key", 404, 1],
  ["unsupported_media_type", 415, 1],
  ["unsupported_operation", 400, 1],
  ["usage", undefined, 2],
];

/** The status each code has in a docs table whose rows read `| <status> | \`code\`, \`code\` | …`. */
function documentedTable(file: string, heading: string): Map<string, number> {
  const docs = readFileSync(join(ROOT, file), "utf8");
  const start = docs.indexOf(heading);
  const section = docs.slice(start, docs.indexOf("\n## ", start + 1));
  const statuses = new Map<string, number>();
  for (const row of section.matchAll(/^\| (\d{3}) \| ([^|]+) \|/gm)) {
    for (const code of (row[2] ?? "").matchAll(/`([a-z0-9_]+)`/g)) statuses.set(code[1] ?? "", Number(row[1]));
  }
  return statuses;
}

/** The exit statuses docs/configuration.md's "Commands and exit codes" table lists. */
function documentedExitStatuses(): Set<number> {
  const docs = readFileSync(join(ROOT, "docs/configuration.md"), "utf8");
  const section = docs.slice(docs.indexOf("## Commands and exit codes"));
  return new Set([...section.matchAll(/^\| (\d+) \| .+ \|$/gm)].map((row) => Number(row[1])));
}

describe("every error code", () => {
  it("has exactly the exit status it always had, and no code came or went", () => {
    expect(Object.entries(EXIT_STATUS_OF).sort(([a], [b]) => a.localeCompare(b))).toEqual(CODES.map(([code, , exit]) => [code, exit]));
  });

  it("a request can get has exactly the HTTP status it always had", () => {
    const answered = CODES.filter(([, status]) => status !== undefined).map(([code, status]): [string, number | undefined] => [
      code,
      status,
    ]);
    const running: [string, number | undefined][] = Object.entries(STATUS_OF).sort(([a], [b]) => a.localeCompare(b));
    expect(running).toEqual(answered);
  });

  it("a request can get is in docs/api.md's error table with that status", () => {
    const documented = documentedTable("docs/api.md", "## Errors");
    expect(documented.size).toBeGreaterThan(20);
    for (const [code, status] of CODES) if (status !== undefined) expect([code, documented.get(code)]).toEqual([code, status]);
    // The table lists nothing else, but the 500 every unexpected failure is.
    expect([...documented.keys()].filter((code) => !(code in STATUS_OF))).toEqual(["internal"]);
  });

  it("ends a command with a status docs/configuration.md documents", () => {
    const documented = documentedExitStatuses();
    expect(documented.has(78)).toBe(true);
    for (const [code, , exit] of CODES) expect([code, documented.has(exit)]).toEqual([code, true]);
  });
});
