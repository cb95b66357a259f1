/**
 * Values the unit suites, the e2e suites and the benches share. Each is here once, so a suite
 * that needs "any user" or "the README's user" says which, and they cannot drift apart.
 */

/** The user UUID of the README's examples (and of the Django original's): the one a suite uses when any user will do. */
export const README_USER = "4dbcbcfe-4800-40a8-badf-c26b73af230c";
