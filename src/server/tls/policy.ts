/**
 * The TLS policy every listener gets: TLS 1.2 and 1.3 only, and in TLS 1.2 only forward-secret
 * AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), for RSA and ECDSA certificates alike.
 * TLS 1.3's suites are all AEAD with (EC)DHE and are left as they are (BoringSSL does not let
 * them be configured). `tlsMinVersion: "1.3"` turns TLS 1.2 off.
 *
 * Bun 1.4.5's server TLS (BoringSSL under uSockets) honours `ciphers` and `secureOptions`, both
 * declared in its types. It also takes `minVersion`/`maxVersion`, but only as undeclared numbers
 * (0x0303; a string such as "TLSv1.3" is a TypeError), so the floor is set with the declared
 * SSL_OP_NO_* bits instead. Bun's own floor is already TLS 1.2; the older versions are turned off
 * here too, so the policy does not rest on a default. tests/e2e/tls.e2e.test.ts holds it to sslscan.
 */
import type { TlsMinVersion } from "../../config.ts";

/** OpenSSL/BoringSSL option bits (same values in both, and in node:crypto's constants). */
export const SSL_OP_NO_SSLv3 = 0x0200_0000;
export const SSL_OP_NO_TLSv1 = 0x0400_0000;
export const SSL_OP_NO_TLSv1_2 = 0x0800_0000;
export const SSL_OP_NO_TLSv1_1 = 0x1000_0000;

/** The TLS 1.2 suites allowed, strongest first; OpenSSL names, as sslscan prints them. */
export const TLS12_CIPHERS: readonly string[] = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
];

/** The TLS 1.3 suites BoringSSL offers (not configurable), for the scan test to expect. */
export const TLS13_CIPHERS: readonly string[] = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

export interface TlsPolicyOptions {
  readonly ciphers: string;
  readonly secureOptions: number;
}

export function tlsPolicy(minVersion: TlsMinVersion): TlsPolicyOptions {
  const legacy = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
  return {
    ciphers: TLS12_CIPHERS.join(":"),
    secureOptions: minVersion === "1.3" ? legacy | SSL_OP_NO_TLSv1_2 : legacy,
  };
}
