/**
 * An unambiguous encoding of a tuple of byte strings, for associated data: each part is its
 * length as a 32-bit big-endian number, then its bytes. Concatenating parts without lengths would
 * let ("ab", "c") and ("a", "bc") authenticate as each other.
 */

/** The parts, each prefixed with its 32-bit big-endian length. */
export function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const part of parts) total += 4 + part.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

/** A 32-bit big-endian number as four bytes, for a version inside associated data. */
export function uint32Bytes(value: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}
