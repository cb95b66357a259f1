/**
 * The django-compat profile's two entry points, what /encrypt and /verify call for a key on
 * that profile. They fail with the standard profile's errors, so the routes need not know which
 * derivation ran, and the standard profile's code imports nothing from here.
 */

import { constantTimeEqual } from "../../../../crypto/hash.ts";
import { encodeUtf8 } from "../../../../crypto/encoding.ts";
import { djangoDigest } from "./derivation.ts";

/** No secret version: the original's digests depend on no secret, and its answers carry none. */
export interface CompatPseudonym {
  readonly digest: string;
}

/** Any string is a user id here, as in the original, and it is not case-folded. */
export function compatPseudonymFor(userId: string, data: string): CompatPseudonym {
  return { digest: djangoDigest(userId, data) };
}

const hexDigest = /^[0-9a-f]*$/;

/**
 * Whether `digestHex` is the original's digest of `data` for this user. Hex is accepted in
 * either case, like the standard profile's /verify. The digests are public knowledge (public
 * salts), but the comparison is constant-time all the same: one rule for every check, and no
 * reason to teach a timing observer anything.
 */
export function verifyCompatPseudonym(userId: string, data: string, digestHex: string): boolean {
  const expected = encodeUtf8(djangoDigest(userId, data));
  const lower = digestHex.toLowerCase();
  // Anything that is not hex cannot match; compared as empty so no non-hex text is encoded.
  const presented = hexDigest.test(lower) ? encodeUtf8(lower) : new Uint8Array(0);
  return constantTimeEqual(expected, presented);
}
