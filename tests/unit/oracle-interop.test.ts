/**
 * The oracle's answers against another AES-GCM: Node's OpenSSL, in a separate `node` process
 * (Bun's Web Crypto runs on BoringSSL, so this is a second implementation, not the same code twice).
 *   - seal over HTTP (app.handle), open each answer with node:crypto createDecipheriv + setAAD + setAuthTag;
 *   - seal with node:crypto (AES-128/192/256, 12- and 16-byte nonces), open over HTTP /oracleinvocation/decrypt.
 * node:crypto is given `data` (ciphertext without the tag) and the 16-byte `mac` separately, which is
 * exactly what the Flask original's client does with pycryptodome:
 *   AES.new(key, AES.MODE_GCM, nonce).decrypt_and_verify(data, mac)
 * That client itself runs too when pycryptodome is installed (`python3 -c 'import Crypto'`); where it
 * is not, that one test is skipped with a message, and the node check stands in for it.
 * All cases go to one node (or python) process as JSON on stdin, to keep the suite fast.
 * Texts and aads are random code points from the whole Unicode range (non-BMP included), and are
 * passed to the other process as UTF-8 bytes in base64, so no second text codec takes part.
 */
import { beforeAll, describe, expect, it } from "bun:test";
import fc from "fast-check";
import { encodeUtf8, fromBase64, toBase64 } from "../../src/crypto/encoding.ts";
import { postJson, testApp } from "./helpers.ts";

const app = testApp();

const CASES = 200;

interface Box {
  readonly data: string;
  readonly key: string;
  readonly mac: string;
  readonly nonce: string;
}

interface Message {
  readonly text: string;
  readonly aad: string | undefined;
}

const messages: readonly Message[] = [
  { text: "", aad: undefined },
  { text: "attack at dawn", aad: undefined },
  { text: "😀 𝄞 𠀀 \u{10FFFF} \u0000 \uFFFD", aad: "🔑 aad 𝔞𝔞𝔡" },
  { text: "x".repeat(100_000), aad: "" },
  ...fc.sample(
    fc.record({
      text: fc.string({ unit: "binary", maxLength: 300 }),
      aad: fc.option(fc.string({ unit: "binary", maxLength: 60 }), { nil: undefined }),
    }),
    CASES - 4,
  ),
];

const utf8Base64 = (text: string) => toBase64(encodeUtf8(text));

async function sealOverHttp(message: Message): Promise<Box> {
  const answer = await postJson(
    app,
    "/oracleinvocation",
    message.aad === undefined ? { data: message.text } : { data: message.text, aad: message.aad },
  );
  expect(answer.status).toBe(200);
  return (await answer.json()) as Box;
}

async function runJson(command: readonly string[], input: unknown): Promise<unknown> {
  const child = Bun.spawn([...command], { stdin: new TextEncoder().encode(JSON.stringify(input)), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exitCode !== 0) throw new Error(`${command[0]} exited with ${exitCode}: ${stderr}`);
  return JSON.parse(stdout);
}

const NODE_SCRIPT = `
const crypto = require("node:crypto");
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const bytes = (text) => Buffer.from(text, "base64");
const gcm = (key) => "aes-" + key.length * 8 + "-gcm";
const opened = input.open.map(({ data, key, mac, nonce, aad }) => {
  try {
    const decipher = crypto.createDecipheriv(gcm(bytes(key)), bytes(key), bytes(nonce), { authTagLength: 16 });
    if (aad !== undefined) decipher.setAAD(bytes(aad));
    decipher.setAuthTag(bytes(mac));
    return Buffer.concat([decipher.update(bytes(data)), decipher.final()]).toString("base64");
  } catch {
    return null;
  }
});
const sealed = input.seal.map(({ plaintext, aad, keyBytes, nonceBytes }) => {
  const key = crypto.randomBytes(keyBytes);
  const nonce = crypto.randomBytes(nonceBytes);
  const cipher = crypto.createCipheriv(gcm(key), key, nonce, { authTagLength: 16 });
  if (aad !== undefined) cipher.setAAD(bytes(aad));
  const data = Buffer.concat([cipher.update(bytes(plaintext)), cipher.final()]);
  return { data: data.toString("base64"), key: key.toString("base64"), mac: cipher.getAuthTag().toString("base64"), nonce: nonce.toString("base64") };
});
process.stdout.write(JSON.stringify({ opened, sealed, openssl: process.versions.openssl ?? null, boringssl: process.versions.boringssl ?? null }));
`;

interface NodeAnswer {
  readonly opened: readonly (string | null)[];
  readonly sealed: readonly Box[];
  readonly openssl: string | null;
  readonly boringssl: string | null;
}

/** Key and nonce sizes for the boxes node seals: AES-128/192/256; 12-byte nonces, and the Flask original's 16. */
const SHAPES = [
  { keyBytes: 32, nonceBytes: 12 },
  { keyBytes: 32, nonceBytes: 16 },
  { keyBytes: 16, nonceBytes: 12 },
  { keyBytes: 24, nonceBytes: 16 },
] as const;

const tamperedMac = (box: Box): Box => {
  const mac = fromBase64(box.mac);
  mac[0]! ^= 0x01;
  return { ...box, mac: toBase64(mac) };
};

describe("interop with Node's OpenSSL", () => {
  let oracleBoxes: Box[] = [];
  let node: NodeAnswer;

  beforeAll(async () => {
    oracleBoxes = [];
    for (const message of messages) oracleBoxes.push(await sealOverHttp(message));
    const open = [
      ...oracleBoxes.map((box, index) => ({
        ...box,
        aad: messages[index]!.aad === undefined ? undefined : utf8Base64(messages[index]!.aad!),
      })),
      // Two controls: node must refuse a tampered tag and a missing aad, or its agreement proves nothing.
      { ...tamperedMac(oracleBoxes[1]!), aad: undefined },
      { ...oracleBoxes[2]!, aad: undefined },
    ];
    const seal = messages.map((message, index) => ({
      plaintext: utf8Base64(message.text),
      aad: message.aad === undefined ? undefined : utf8Base64(message.aad),
      ...SHAPES[index % SHAPES.length]!,
    }));
    node = (await runJson(["node", "-e", NODE_SCRIPT], { open, seal })) as NodeAnswer;
  });

  it("is a different library: node runs OpenSSL, Bun runs BoringSSL", () => {
    expect(node.openssl).toMatch(/^\d+\.\d+/);
    expect(node.boringssl).toBeNull();
    expect(process.versions.boringssl).toBeDefined();
  });

  it(`opens, with node:crypto, every one of ${messages.length} answers the oracle sealed (non-BMP text, aad or none)`, () => {
    expect(node.opened.length).toBe(messages.length + 2);
    messages.forEach((message, index) => {
      expect(node.opened[index]).toBe(utf8Base64(message.text));
    });
  });

  it("refuses, in node:crypto too, a tampered tag and a missing aad", () => {
    expect(node.opened[messages.length]).toBeNull();
    expect(node.opened[messages.length + 1]).toBeNull();
  });

  it("decrypts over HTTP what node:crypto sealed, for AES-128/192/256 and 12- and 16-byte nonces", async () => {
    expect(node.sealed.length).toBe(messages.length);
    for (const [index, box] of node.sealed.entries()) {
      const message = messages[index]!;
      const answer = await postJson(app, "/oracleinvocation/decrypt", message.aad === undefined ? box : { ...box, aad: message.aad });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ data: message.text });
    }
  });

  it("refuses over HTTP a box node:crypto sealed, once its tag is changed", async () => {
    const answer = await postJson(app, "/oracleinvocation/decrypt", tamperedMac(node.sealed[1]!));
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: "authentication_failed" } });
  });
});

const PYCRYPTODOME_SCRIPT = `
import base64, json, sys
try:
    from Crypto.Cipher import AES
except ImportError:  # Debian's python3-pycryptodome installs the same library as Cryptodome
    from Cryptodome.Cipher import AES
out = []
for box in json.load(sys.stdin):
    cipher = AES.new(base64.b64decode(box["key"]), AES.MODE_GCM, nonce=base64.b64decode(box["nonce"]))
    if box.get("aad") is not None:
        cipher.update(base64.b64decode(box["aad"]))
    out.append(base64.b64encode(cipher.decrypt_and_verify(base64.b64decode(box["data"]), base64.b64decode(box["mac"]))).decode())
print(json.dumps(out))
`;

/** The first Python that has pycryptodome, under either of its names (pip's Crypto, Debian's Cryptodome). */
const pythonWithPycryptodome = ["python3", "/usr/bin/python3"].find((python) =>
  ["Crypto.Cipher.AES", "Cryptodome.Cipher.AES"].some(
    (module) =>
      Bun.which(python) !== null &&
      Bun.spawnSync([python, "-c", `import ${module}`], { stdout: "ignore", stderr: "ignore" }).exitCode === 0,
  ),
);
if (pythonWithPycryptodome === undefined) {
  console.warn(
    "oracle-interop: SKIPPED the Flask original's own client: pycryptodome is not installed (python3 -c 'import Crypto' fails; " +
      "Debian: apt-get install python3-pycryptodome). The node:crypto tests above check the same decrypt_and_verify(data, mac) contract.",
  );
}

describe("the Flask original's client (pycryptodome)", () => {
  it.skipIf(pythonWithPycryptodome === undefined)(
    "decrypts the oracle's answers with AES.new(key, MODE_GCM, nonce).decrypt_and_verify(data, mac)",
    async () => {
      const sample = messages.slice(0, 50);
      const boxes = await Promise.all(sample.map(sealOverHttp));
      const input = boxes.map((box, index) => ({ ...box, aad: sample[index]!.aad === undefined ? null : utf8Base64(sample[index]!.aad!) }));
      const opened = (await runJson([pythonWithPycryptodome ?? "python3", "-c", PYCRYPTODOME_SCRIPT], input)) as string[];
      expect(opened).toEqual(sample.map((message) => utf8Base64(message.text)));
      // And it refuses a tampered tag: decrypt_and_verify raises, so the script exits non-zero.
      const tampered = [{ ...tamperedMac(boxes[1]!), aad: null }];
      await expect(runJson([pythonWithPycryptodome ?? "python3", "-c", PYCRYPTODOME_SCRIPT], tampered)).rejects.toThrow(/MAC check failed/);
    },
  );
});
