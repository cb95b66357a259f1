/**
 * TEST FIXTURE: a throwaway CA and server certificate made with openssl at run time (nothing
 * committed), in a fresh temporary directory. Apart from the harness so a unit test, and a
 * benchmark, can use it without building dist/caas.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(prefix = "caas-e2e-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function openssl(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`);
}

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caCertPem: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

/** TEST FIXTURE: a throwaway CA and a localhost certificate it signed, valid for 60 days (caas warns about one that expires within 30). */
export function makeTestPki(dir = tempDir("caas-pki-"), name = "server"): TestPki {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  if (!(Bun.file(ca).size > 0)) {
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        caKey,
        "-out",
        ca,
        "-days",
        "60",
        "-subj",
        "/CN=caas test CA",
      ],
      dir,
    );
  }
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  Bun.spawnSync(["sh", "-c", `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > '${ext}'`]);
  openssl(
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`],
    dir,
  );
  openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "60", "-extfile", ext], dir);
  return { dir, caCert: ca, caCertPem: readFileSync(ca, "utf8"), serverCert: cert, serverKey: key };
}
