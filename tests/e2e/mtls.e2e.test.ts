/**
 * Mutual TLS (the Django original's "secure protocols between the main server and the encryption
 * server"): with CAAS_TLS_CLIENT_CA, dist/caas finishes a handshake only with a client that
 * presents a certificate that CA signed. Two throwaway CAs: the trusted one and a stranger.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { makeTestPki, startCaas, type RunningCaas, type TestPki } from "./harness.ts";

let trusted: TestPki;
let stranger: TestPki;
let goodClient: TestPki;
let strangerClient: TestPki;
let caas: RunningCaas;

beforeAll(async () => {
  trusted = makeTestPki();
  stranger = makeTestPki();
  goodClient = makeTestPki(trusted.dir, "main-server");
  strangerClient = makeTestPki(stranger.dir, "intruder");
  caas = await startCaas({ pki: trusted, env: { CAAS_TLS_CLIENT_CA: trusted.caCert } });
});
afterAll(async () => {
  await caas.stop();
});

function withClientCertificate(path: string, client?: TestPki): Promise<Response> {
  const tls = {
    ca: trusted.caCertPem,
    ...(client === undefined ? {} : { cert: readFileSync(client.serverCert, "utf8"), key: readFileSync(client.serverKey, "utf8") }),
  };
  return fetch(`${caas.url}${path}`, { tls } as RequestInit);
}

/** openssl s_client's verdict, independent of Bun's client: whether an HTTP answer came back. */
function sClient(version: "-tls1_2" | "-tls1_3", client?: TestPki): string {
  const certArgs = client === undefined ? [] : ["-cert", client.serverCert, "-key", client.serverKey];
  const result = Bun.spawnSync(["openssl", "s_client", "-connect", `127.0.0.1:${caas.port}`, version, "-CAfile", trusted.caCert, "-quiet", "-ign_eof", ...certArgs], {
    stdin: new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 15_000,
  });
  return result.stdout.toString();
}

describe("mutual TLS with CAAS_TLS_CLIENT_CA", () => {
  it("answers a client whose certificate the configured CA signed", async () => {
    const answer = await withClientCertificate("/healthz", goodClient);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: "ok" });
  });

  it("fails the handshake for a client without a certificate", async () => {
    await expect(withClientCertificate("/healthz")).rejects.toThrow();
  });

  it("fails the handshake for a client whose certificate another CA signed", async () => {
    await expect(withClientCertificate("/healthz", strangerClient)).rejects.toThrow();
  });

  for (const version of ["-tls1_2", "-tls1_3"] as const) {
    it(`holds with openssl s_client too (${version})`, () => {
      expect(sClient(version, goodClient)).toStartWith("HTTP/1.1 200");
      expect(sClient(version)).not.toContain("HTTP/1.1");
      expect(sClient(version, strangerClient)).not.toContain("HTTP/1.1");
    });
  }

  it("is still serving after the refused handshakes", async () => {
    expect((await withClientCertificate("/healthz", goodClient)).status).toBe(200);
    expect(caas.output()).not.toContain("internal_error");
  });
});

describe("without CAAS_TLS_CLIENT_CA", () => {
  it("asks for no client certificate", async () => {
    const open = await startCaas({ pki: trusted });
    try {
      expect((await open.request("/healthz")).status).toBe(200);
    } finally {
      await open.stop();
    }
  });
});
