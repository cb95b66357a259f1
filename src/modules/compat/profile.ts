/**
 * The django-compat profile's two entry points, what /encrypt and /verify call for a key on
 * that profile. They fail with the standard profile's errors, so the routes need not know which
 * derivation ran, and the standard profile's code imports nothing from here.
 */

import { constantTimeEqual } from "../../crypto/hash.ts";
import { encodeUtf8 } from "../../crypto/encoding.ts";
import { InvalidText } from "../../http/errors.ts";
import { DjangoDataNotEncodable, djangoDigest } from "./derivation.ts";

/** No secret version: the original's digests depend on no secret, and its answers carry none. */
export interface CompatPseudonym {
  readonly digest: string;
}

/** The original's digest, with its one failure (a lone surrogate in the data) as a 400. */
function digestOrInvalidText(userId: string, data: string): string {
  try {
    return djangoDigest(userId, data);
  } catch (error) {
    if (error instanceof DjangoDataNotEncodable) throw new InvalidText("sensitiveData");
    throw error;
  }
}

/** Any string is a user id here, as in the original, and it is not case-folded. */
export function compatPseudonymFor(userId: string, data: string): CompatPseudonym {
  return { digest: digestOrInvalidText(userId, data) };
}

const hexDigest = /^[0-9a-f]*$/;

/**
 * Whether `digestHex` is the original's digest of `data` for this user. Hex is accepted in
 * either case, like the standard profile's /verify. The digests are public knowledge (public
 * salts), but the comparison is constant-time all the same: one rule for every check, and no
 * reason to teach a timing observer anything.
 */
/** The comparison compat /verify uses, exported so a test can hold it to being the constant-time one. */
export const compareCompatDigest: (a: Uint8Array, b: Uint8Array) => boolean = constantTimeEqual;

export function verifyCompatPseudonym(userId: string, data: string, digestHex: string): boolean {
  const expected = encodeUtf8(digestOrInvalidText(userId, data));
  const lower = digestHex.toLowerCase();
  // Anything that is not hex cannot match; compared as empty so no non-hex text is encoded.
  const presented = hexDigest.test(lower) ? encodeUtf8(lower) : new Uint8Array(0);
  return compareCompatDigest(expected, presented);
}
