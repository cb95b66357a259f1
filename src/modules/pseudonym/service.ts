/**
 * Pseudonyms, for whichever profile the caller's key is on. No HTTP here: the routes (index.ts)
 * authenticate and validate, then call these. Each profile computes and answers in its own way
 * (profiles/standard.ts, profiles/django-compat/), and the Record below makes a new profile a
 * compile error until it is routed.
 */
import type { ApiKeyProfile, ApiKeyRecord } from "../../credentials/api-keys.ts";
import type { SecretRing } from "../../credentials/secret-ring.ts";
import type { PseudonymAnswer, PseudonymRequest, VerifyRequest } from "./model.ts";
import { type PseudonymMemo, pseudonymFor, verifyPseudonym } from "./profiles/standard.ts";

/** What each key profile computes. A Record over every profile, so a new profile cannot go unrouted. */
interface ProfileService {
  /** The whole answer: each profile's clients expect their own shape (model.ts). */
  pseudonym(keys: PseudonymKeys, userId: string, data: string): PseudonymAnswer;
  verify(keys: PseudonymKeys, request: VerifyRequest): boolean;
}

/** What the standard profile computes under: the server secret's versions, and the memo of what it derives from them. */
export interface PseudonymKeys {
  readonly secrets: SecretRing;
  readonly memo?: PseudonymMemo;
}

type CompatProfile = typeof import("./profiles/django-compat/index.ts");
let compatProfile: CompatProfile | undefined;

/**
 * The django-compat profile, evaluated on its first use: its pool, its ten hashes and BLAKE3 are
 * about a millisecond and a half of every start, and most deployments hold no key on it.
 * require() is synchronous, so the first request on such a key answers like any other.
 */
function compat(): CompatProfile {
  compatProfile ??= require("./profiles/django-compat/index.ts") as CompatProfile;
  return compatProfile;
}

const PROFILES: Readonly<Record<ApiKeyProfile, ProfileService>> = {
  standard: {
    pseudonym: ({ secrets, memo }, userId, data) => {
      const { digest, version } = pseudonymFor(secrets, userId, data, memo);
      return { encrypted_data: digest, version };
    },
    verify: ({ secrets, memo }, request) =>
      verifyPseudonym(
        secrets,
        { userId: request.userUUID, data: request.sensitiveData, digestHex: request.encrypted_data, version: request.version },
        memo,
      ),
  },
  // The original's digests depend on no secret, so the ring is not passed on.
  "django-compat": {
    pseudonym: (_secrets, userId, data) => ({ encrypted_data: compat().compatPseudonymFor(userId, data).digest }),
    // Its digests carry no version; one sent anyway names nothing here.
    verify: (_secrets, request) => compat().verifyCompatPseudonym(request.userUUID, request.sensitiveData, request.encrypted_data),
  },
};

export function encrypt(caller: ApiKeyRecord, keys: PseudonymKeys, body: PseudonymRequest): PseudonymAnswer {
  return PROFILES[caller.profile].pseudonym(keys, body.userUUID, body.sensitiveData);
}

export function verify(caller: ApiKeyRecord, keys: PseudonymKeys, body: VerifyRequest): boolean {
  return PROFILES[caller.profile].verify(keys, body);
}
