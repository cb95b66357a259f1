/**
 * The keyring's MAC and signing keys in memory, beside KeyringKey (keyring.ts), sharing its
 * version bookkeeping (versioned-key.ts). A signature or MAC string is
 * `caas:v<version>:<base64>`, as a ciphertext is, so verifying knows which version to ask, and a
 * version this instance does not hold is told apart from a wrong signature.
 *
 * Private keys and MAC keys stay inside these objects: nothing here returns them.
 */
import {
  type EcdsaFormat,
  hmacSha256,
  publicKeyJwk,
  publicKeyPem,
  type RsaPadding,
  type SignatureAlgorithm,
  type SigningKeyPair,
  signWith,
  verifyHmacSha256,
  verifyWith,
} from "../crypto/signing.ts";
import { InvalidSignature, KeyVersionRetired } from "../errors.ts";
import type { VersionTimeline, VersionState } from "./key-versions.ts";
import { JWT_ALG_OF } from "./key-types.ts";
import { type HeldVersion, type KeyringKeyInfo, parseVersioned, VERSIONED_PREFIX, VersionBook } from "./versioned-key.ts";

/** How a signature over data is written; each option applies to its algorithm only. */
export interface SignatureForm {
  readonly format?: EcdsaFormat;
  readonly padding?: RsaPadding;
}

export interface MadeByKey {
  readonly value: string;
  readonly version: number;
}

/** A JWT's `kid` for a version of a key: `<name>.v<version>` (names hold no ':' but may hold '.', so the last ".v" splits it). */
export function kidOf(name: string, version: number): string {
  return `${name}.v${version}`;
}

/** The name and version in a kid, or undefined when it is not `<name>.v<digits>`. */
export function parseKid(kid: string): { readonly name: string; readonly version: string } | undefined {
  const at = kid.lastIndexOf(".v");
  if (at <= 0) return undefined;
  return { name: kid.slice(0, at), version: kid.slice(at + 2) };
}

/** What every MAC and signing key shares: name, type, the version book. */
abstract class VersionedKey<V> {
  readonly name: string;
  readonly created: string;
  readonly minDecryptionVersion: number;
  protected readonly book: VersionBook<V>;
  readonly #info: KeyringKeyInfo;

  constructor(info: KeyringKeyInfo, versions: ReadonlyMap<number, V>, now: number) {
    this.name = info.name;
    this.created = info.created;
    this.minDecryptionVersion = info.minDecryptionVersion;
    this.#info = info;
    this.book = new VersionBook(info, versions, now);
  }

  get timeline(): VersionTimeline {
    return this.book.timeline;
  }

  get activeVersion(): number {
    return this.book.active().version;
  }

  get newestVersion(): number {
    return this.book.newestVersion;
  }

  get info(): KeyringKeyInfo {
    return this.#info;
  }

  /** The version a caas string names, or InvalidSignature (not the shape), KeyVersionRetired, KeyVersionUnknown. */
  protected parsed(text: string, field: string): { readonly held: HeldVersion<V>; readonly bytes: Uint8Array } {
    const parsed = parseVersioned(text);
    if (parsed === undefined) throw new InvalidSignature(field);
    return { held: { version: parsed.version, value: this.book.held(parsed.version) }, bytes: parsed.bytes };
  }

  abstract readonly jwtAlg: string;

  /** The JWS signature of `input` under `version` (the active one, read by the caller for its kid). */
  jwsSign(version: number, input: Uint8Array): Uint8Array {
    return this.signJws(this.book.held(version), input);
  }

  /**
   * Whether `signature` is the JWS signature of `input` under `version`: undefined when that
   * version is retired or trimmed, KeyVersionUnknown when it is above any held.
   */
  jwsVerify(version: number, input: Uint8Array, signature: Uint8Array): boolean | undefined {
    let held: V;
    try {
      held = this.book.held(version);
    } catch (error) {
      if (error instanceof KeyVersionRetired) return undefined;
      throw error;
    }
    return this.verifyJws(held, input, signature);
  }

  protected abstract signJws(value: V, input: Uint8Array): Uint8Array;
  protected abstract verifyJws(value: V, input: Uint8Array, signature: Uint8Array): boolean;
}

/** An hmac-sha256 key: each version 32 random bytes. */
export class MacKey extends VersionedKey<Uint8Array> {
  readonly type = "hmac-sha256";
  readonly publish = false;
  readonly jwtAlg = JWT_ALG_OF["hmac-sha256"];

  constructor(info: KeyringKeyInfo, keys: ReadonlyMap<number, Uint8Array>, now: number = Date.now()) {
    super(info, keys, now);
  }

  mac(data: Uint8Array): MadeByKey {
    const { version, value } = this.book.active();
    return { value: `${VERSIONED_PREFIX}${version}:${hmacSha256(value, data).toBase64()}`, version };
  }

  /** Whether `mac` (a caas MAC string) is this key's MAC of `data`, compared in constant time. */
  verify(data: Uint8Array, mac: string, field = "hmac"): { readonly valid: boolean; readonly version: number } {
    const { held, bytes } = this.parsed(mac, field);
    return { valid: verifyHmacSha256(held.value, data, bytes), version: held.version };
  }

  protected signJws(value: Uint8Array, input: Uint8Array): Uint8Array {
    return hmacSha256(value, input);
  }

  protected verifyJws(value: Uint8Array, input: Uint8Array, signature: Uint8Array): boolean {
    return verifyHmacSha256(value, input, signature);
  }
}

interface PublicParts {
  readonly pem: string;
  readonly jwk: Readonly<Record<string, string>>;
}

interface SigningVersion extends SigningKeyPair {
  readonly public: PublicParts;
}

/** A published or listed public version: never private material. */
export interface PublicVersion {
  readonly version: number;
  readonly state: Exclude<VersionState, "retired">;
  readonly kid: string;
  readonly pem: string;
  readonly jwk: Readonly<Record<string, string>>;
}

/** An ed25519, ecdsa-p256 or rsa-2048 key: each version a key pair. */
export class SigningKey extends VersionedKey<SigningVersion> {
  readonly type: SignatureAlgorithm;
  readonly publish: boolean;
  readonly jwtAlg: string;

  constructor(
    info: KeyringKeyInfo & { readonly type: SignatureAlgorithm },
    pairs: ReadonlyMap<number, SigningKeyPair>,
    now: number = Date.now(),
  ) {
    const alg = JWT_ALG_OF[info.type];
    const versions = new Map<number, SigningVersion>();
    for (const [version, pair] of pairs) {
      const jwk = { ...publicKeyJwk(pair.publicKey), kid: kidOf(info.name, version), alg, use: "sig" };
      versions.set(version, { ...pair, public: { pem: publicKeyPem(pair.publicKey), jwk } });
    }
    super(info, versions, now);
    this.type = info.type;
    this.publish = info.publish === true;
    this.jwtAlg = alg;
  }

  /** A signature of `data` under the active version; ECDSA as r‖s unless asked for DER, RSA with PSS unless asked for PKCS#1 v1.5. */
  sign(data: Uint8Array, form: SignatureForm = {}): MadeByKey {
    const { version, value } = this.book.active();
    const signature = signWith(this.type, value.privateKey, data, {
      ecdsaFormat: form.format ?? "p1363",
      rsaPadding: form.padding ?? "pss",
    });
    return { value: `${VERSIONED_PREFIX}${version}:${signature.toBase64()}`, version };
  }

  verify(
    data: Uint8Array,
    signature: string,
    form: SignatureForm = {},
    field = "signature",
  ): { readonly valid: boolean; readonly version: number } {
    const { held, bytes } = this.parsed(signature, field);
    const valid = verifyWith(
      this.type,
      held.value.publicKey,
      { data: data, signature: bytes },
      {
        ecdsaFormat: form.format ?? "p1363",
        rsaPadding: form.padding ?? "pss",
        ecdsaHighS: "refuse",
      },
    );
    return { valid, version: held.version };
  }

  /** Every version that verifies now (staged, active, decrypt-only), with its public key as PEM and JWK. */
  publicVersions(now: number = Date.now()): readonly PublicVersion[] {
    return this.book.live(now).map(({ version, value, state }) => ({
      version,
      state,
      kid: kidOf(this.name, version),
      pem: value.public.pem,
      jwk: value.public.jwk,
    }));
  }

  protected signJws(value: SigningVersion, input: Uint8Array): Uint8Array {
    return signWith(this.type, value.privateKey, input, { ecdsaFormat: "p1363", rsaPadding: "pkcs1" });
  }

  protected verifyJws(value: SigningVersion, input: Uint8Array, signature: Uint8Array): boolean {
    return verifyWith(
      this.type,
      value.publicKey,
      { data: input, signature: signature },
      { ecdsaFormat: "p1363", rsaPadding: "pkcs1", ecdsaHighS: "refuse" },
    );
  }
}
