/**
 * The length in hex of the longest digest the Django original makes (blake2b and sha512: 64
 * bytes), apart from the profile itself, so the routes' schemas can bound a digest without
 * loading the profile (tests/unit/compat-derivation.test.ts holds it to the hashes' own sizes).
 */
export const LONGEST_DJANGO_DIGEST_HEX = 128;
