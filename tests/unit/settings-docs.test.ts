/**
 * Every place a setting's default is written down says what SETTINGS (src/config.ts) says, the one
 * place it is stated: `serve --help`, the README's settings table, docs/configuration.md,
 * deploy/caas.toml, and prose in the docs that gives a default beside its variable. A new row,
 * or a changed default, fails here until each of them follows. So do the other lists the docs
 * keep of something stated once: the metrics families (src/http/exposition.ts) in
 * docs/operations.md, and the requests Bun answers itself (docs/security.md) in the README's limits.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SERVE_HELP } from "../../src/cli/serve.ts";
import { ComputedDefault, defaultConfig, defaultText, SETTINGS, type Setting } from "../../src/config.ts";
import { FAMILIES } from "../../src/http/exposition.ts";

const REPO = join(import.meta.dir, "../..");
const read = (path: string) => readFileSync(join(REPO, path), "utf8");
const code = (text: string) => `\`${text}\``;

/** The cells of each markdown table row in `text` that starts with `firstCell`. */
function tableRows(text: string, firstCell: RegExp): string[][] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    )
    .filter((cells) => firstCell.test(cells[0] ?? ""));
}

/** The value a default stands for in a TOML file, or undefined where it has none to write. */
function tomlDefault(setting: Setting): string | number | boolean | undefined {
  const value = setting.default;
  return value instanceof ComputedDefault ? undefined : value;
}

describe("the settings table", () => {
  it("has one row per flag, variable and TOML key", () => {
    for (const name of ["key", "flag", "env", "file"] as const) {
      const names = SETTINGS.map((setting) => setting[name]);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it("gives every default that is a value a value its own parser accepts unchanged", () => {
    for (const setting of SETTINGS) {
      const value = tomlDefault(setting);
      if (value !== undefined) expect(setting.parse(String(value), setting.env)).toBe(value);
    }
  });

  it("is where defaultConfig() takes its values from", () => {
    const config = defaultConfig();
    for (const setting of SETTINGS) {
      if (!(setting.default instanceof ComputedDefault)) expect(config[setting.key]).toBe(setting.default);
    }
  });

  it("describes in words every default that is not a value", () => {
    for (const setting of SETTINGS) {
      if (setting.default === undefined || setting.default instanceof ComputedDefault) expect(setting.defaultText).toBeString();
    }
  });
});

describe("serve --help", () => {
  it("lists every setting on one line with its flag, variable and default", () => {
    for (const setting of SETTINGS) {
      const line = SERVE_HELP.split("\n").find((candidate) => candidate.startsWith(`  --${setting.flag} `));
      expect(line).toBeDefined();
      expect(line).toContain(` ${setting.env} `);
      expect(line).toEndWith(`; default ${defaultText(setting).replaceAll("`", "")}`);
    }
  });
});

describe("README.md's settings table", () => {
  const readme = read("README.md");
  const section = readme.slice(readme.indexOf("<!-- settings -->"), readme.indexOf("<!-- /settings -->"));
  const rows = tableRows(section, /^`CAAS_/);

  it("lists every setting's variable and default as the table does, and nothing else", () => {
    expect(section.length).toBeGreaterThan(0);
    expect(rows.map((cells) => cells[0])).toEqual(SETTINGS.map((setting) => code(setting.env)));
    for (const setting of SETTINGS) expect(rows.find((cells) => cells[0] === code(setting.env))?.[1]).toBe(defaultText(setting));
  });
});

describe("docs/configuration.md", () => {
  const rows = tableRows(read("docs/configuration.md"), /^`--/);

  it("lists every setting's flag, variable, TOML key, credential and default as the table does, and nothing else", () => {
    expect(rows.map((cells) => cells[0])).toEqual(SETTINGS.map((setting) => code(`--${setting.flag}`)));
    for (const setting of SETTINGS) {
      const cells = rows.find((row) => row[0] === code(`--${setting.flag}`));
      expect(cells?.slice(1, 5)).toEqual([
        code(setting.env),
        code(setting.file),
        setting.credential === undefined ? "" : code(setting.credential),
        defaultText(setting),
      ]);
    }
  });
});

describe("deploy/caas.toml", () => {
  const text = read("deploy/caas.toml");
  const values = Bun.TOML.parse(text) as Record<string, unknown>;

  it("sets nothing the table does not know, and each setting it sets to its default", () => {
    for (const [key, value] of Object.entries(values)) {
      expect(SETTINGS.map((setting) => setting.file)).toContain(key);
      const setting = SETTINGS.find((candidate) => candidate.file === key);
      if (setting !== undefined) expect({ [key]: value }).toEqual({ [key]: tomlDefault(setting) });
    }
  });

  it("names every setting, on a line of its own or a commented one", () => {
    for (const setting of SETTINGS) expect(text).toMatch(new RegExp(`^(# )?${setting.file} = `, "m"));
  });
});

describe("docs/operations.md's metrics table", () => {
  const rows = tableRows(read("docs/operations.md"), /^`(caas|process)_/);

  it("has one row per metric family on the page, of its type, and no row the page does not have", () => {
    expect(rows.map((cells) => cells[0])).toEqual(FAMILIES.map((family) => code(family.name)));
    for (const family of FAMILIES) {
      const type = rows.find((cells) => cells[0] === code(family.name))?.[1] ?? "";
      // A gauge merged by min says so: "gauge (earliest)".
      expect({ name: family.name, type: type.split(" ")[0] }).toEqual({ name: family.name, type: family.type });
    }
  });
});

describe("README.md's limits", () => {
  const readme = read("README.md");
  const start = readme.indexOf("## Limits");
  // One line per bullet's text, however it wraps.
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1)).replace(/\s+/g, " ");
  const security = read("docs/security.md");
  const answeredByBun = security.indexOf("**Answered by Bun");
  const bunRows = tableRows(security.slice(answeredByBun, security.indexOf("\n## ", answeredByBun)), /./).filter(
    (cells) => cells[0] !== "request" && !/^-+$/.test(cells[0] ?? ""),
  );
  /** The README's bullet for an answer: "`400`: …", or "no answer: …". */
  const bulletFor = (answer: string) => {
    const status = /^\d{3}/.exec(answer)?.[0];
    const head = status === undefined ? "- no answer: " : `- \`${status}\`: `;
    const at = section.indexOf(head);
    const end = section.indexOf(" - ", at + head.length);
    return at < 0 ? "" : section.slice(at, end < 0 ? undefined : end);
  };

  it("lists every request docs/security.md says Bun answers itself, under Bun's answer", () => {
    expect(start).toBeGreaterThan(0);
    expect(bunRows.length).toBeGreaterThanOrEqual(10);
    for (const [request = "", answer = ""] of bunRows) {
      // The README leaves out a closing example in parentheses: "`OPTIONS *` (asterisk form)".
      const item = request.replace(/ \([^()]*\)$/, "");
      expect({ request, bullet: bulletFor(answer).includes(item) }).toEqual({ request, bullet: true });
    }
  });

  it("says dot segments and fragments are 400 invalid_target, and how the Django routes read bodies", () => {
    expect(section).toContain("dot segment");
    expect(section).toContain("not normalised");
    expect(section).toContain("fragment");
    expect(section).toContain("`400 invalid_target`");
    expect(section).toMatch(/read a body as strict JSON\s+whatever its Content-Type/);
    expect(section).toContain("(docs/security.md#limits)");
  });
});

describe("prose in the docs that gives a setting's default", () => {
  const settingOf = (env: string | undefined) => SETTINGS.find((setting) => setting.env === env);
  const UNITS: Readonly<Record<string, number>> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  const documents = ["README.md", ...readdirSync(join(REPO, "docs"), { encoding: "utf8" }).map((name) => `docs/${name}`)].filter((path) =>
    path.endsWith(".md"),
  );
  /** `CAAS_X` (64 MiB): a size, said beside its variable. */
  const sizes = documents.flatMap((path) =>
    [...read(path).matchAll(/`(CAAS_[A-Z_]+)` \((\d+) (KiB|MiB|GiB)\)/g)].map((match) => ({
      path,
      setting: settingOf(match[1]),
      bytes: Number(match[2]) * (UNITS[match[3] ?? ""] ?? Number.NaN),
    })),
  );
  /** `CAAS_X` (default `V`...) or `CAAS_X`, ..., `V` by default: a value, said in the same sentence as its variable. */
  const values = documents.flatMap((path) =>
    [
      ...read(path).matchAll(/`(CAAS_[A-Z_]+)`(?: \(default |[^`.]*)`([^`]+)`(?: by default)/g),
      ...read(path).matchAll(/`(CAAS_[A-Z_]+)` \(default `([^`]+)`/g),
    ].map((match) => ({ path, setting: settingOf(match[1]), value: match[2] })),
  );

  it("finds the places it checks", () => {
    expect(sizes.map((found) => `${found.path} ${found.setting?.env}`)).toContain("docs/security.md CAAS_MAX_BODY_IN_FLIGHT");
    expect(values.map((found) => `${found.path} ${found.setting?.env}`)).toContain("docs/api.md CAAS_OPS_LISTEN");
  });

  it("says the size the table gives", () => {
    for (const { path, setting, bytes } of sizes)
      expect(`${path}: ${setting?.env} ${bytes}`).toBe(`${path}: ${setting?.env} ${setting?.default}`);
  });

  it("says the value the table gives", () => {
    for (const { path, setting, value } of values)
      expect(`${path}: ${setting?.env} ${value}`).toBe(`${path}: ${setting?.env} ${setting?.default}`);
  });
});
