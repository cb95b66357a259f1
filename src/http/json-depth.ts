/**
 * How deep a JSON text nests, checked before it is parsed. Every caas body is a flat object of
 * strings, yet a 10 KB body of `[[[[…` parses happily and then costs Elysia's validator seconds
 * of CPU (quadratic in the depth) or overflows its stack (a 500): measured on Elysia 1.4.30 at
 * depths of 5,000 to 10,000. Refusing anything deeper than MAX_JSON_DEPTH keeps both away.
 */

/** Far more than any caas body needs (1 for a request object, 3 for a batch of them). */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether `text` opens more than `maxDepth` arrays or objects inside one another. Linear:
 * strings, where the bulk of a body is, are skipped with indexOf. Text that is not JSON may get
 * either answer; the parser that runs after it refuses it anyway.
 */
export function jsonDepthExceeds(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      // Jump to the closing quote: the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const close = text.indexOf('"', i + 1);
        if (close < 0) return false;
        let backslashes = 0;
        while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
        i = close;
        if (backslashes % 2 === 0) break;
      }
    } else if (code === 0x5b || code === 0x7b) {
      depth++;
      if (depth > maxDepth) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
  return false;
}
