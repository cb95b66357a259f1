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
  const result = Bun.spawnSync(
    ["openssl", "s_client", "-connect", `127.0.0.1:${caas.port}`, version, "-CAfile", trusted.caCert, "-quiet", "-ign_eof", ...certArgs],
    {
      stdin: new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
      stdout: "pipe",
      stderr: "pipe",
      timeout: 15_000,
    },
  );
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

/** Every "listening" line so far: one per process that serves (a supervisor's workers each log one). */
function listeners(output: string): number {
  return output.match(/"event":"listening"/g)?.length ?? 0;
}

/**
 * The client CA must hold in every process that answers, however the certificate is had: a
 * supervisor hands its workers the whole TLS material, not just the certificate and key.
 * Fresh connections, several per worker, since the kernel spreads them over the workers.
 */
describe("mutual TLS in every worker, for each certificate source", () => {
  for (const workers of [1, 2]) {
    for (const certificate of ["ad hoc", "configured"] as const) {
      it(`refuses a client without a certificate and answers one with it (workers ${workers}, ${certificate} certificate)`, async () => {
        const adhoc = certificate === "ad hoc";
        const server = await startCaas({
          pki: trusted,
          env: {
            CAAS_TLS_CLIENT_CA: trusted.caCert,
            CAAS_WORKERS: String(workers),
            ...(adhoc ? { CAAS_TLS_CERT: "", CAAS_TLS_KEY: "" } : {}),
          },
        });
        try {
          while (listeners(server.output()) < workers) await Bun.sleep(10);
          const serverTrust = adhoc ? { rejectUnauthorized: false } : { ca: trusted.caCertPem };
          const attempt = (client?: TestPki) =>
            fetch(`${server.url}/healthz`, {
              keepalive: false,
              tls: {
                ...serverTrust,
                ...(client === undefined
                  ? {}
                  : { cert: readFileSync(client.serverCert, "utf8"), key: readFileSync(client.serverKey, "utf8") }),
              },
            } as RequestInit).then(
              (answer) => answer.status,
              () => "refused",
            );
          const attempts = 8 * workers;
          const without: (number | string)[] = [];
          const stranger: (number | string)[] = [];
          const good: (number | string)[] = [];
          for (let i = 0; i < attempts; i++) {
            without.push(await attempt());
            stranger.push(await attempt(strangerClient));
            good.push(await attempt(goodClient));
          }
          expect(without).toEqual(Array(attempts).fill("refused"));
          expect(stranger).toEqual(Array(attempts).fill("refused"));
          expect(good).toEqual(Array(attempts).fill(200));
        } finally {
          expect(await server.stop()).toBe(0);
        }
      });
    }
  }
});
