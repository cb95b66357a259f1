/**
 * MT19937 exactly as CPython's `random` module drives it (Modules/_randommodule.c, which
 * embeds Matsumoto and Nishimura's mt19937ar.c), so that caas draws the same numbers the
 * Django original drew.
 *
 * A generator is an object you own: there is no module-level instance. The original seeded
 * Python's one global generator per request, so two concurrent requests could interleave a
 * reseed and a draw and get each other's numbers; here every caller builds its own.
 */

const STATE_WORDS = 624;
const SHIFT_SIZE = 397;
const TWIST_MATRIX = 0x9908b0df;
const UPPER_BIT = 0x80000000;
const LOWER_BITS = 0x7fffffff;

export class Mt19937 {
  readonly #state = new Uint32Array(STATE_WORDS);
  #position = STATE_WORDS;

  private constructor() {}

  /**
   * mt19937ar.c's `init_by_array`: the seeding CPython uses for every integer seed.
   * Each key word must be an integer in [0, 2^32).
   */
  static fromKey(key: ArrayLike<number>): Mt19937 {
    if (key.length === 0) throw new RangeError("an MT19937 key needs at least one word");
    const words = Uint32Array.from(key, (word) => {
      if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) {
        throw new RangeError("every MT19937 key word must be an integer in [0, 2^32)");
      }
      return word;
    });
    const generator = new Mt19937();
    generator.#mixInKey(words);
    return generator;
  }

  /**
   * `random.seed(n)` for an int n: CPython seeds with |n| split into 32-bit words, least
   * significant first, as many as |n| needs and at least one (so 0 seeds with [0]).
   */
  static seededLikeCPython(seed: bigint): Mt19937 {
    return Mt19937.fromKey(cpythonSeedKey(seed));
  }

  /** The next 32-bit output (mt19937ar.c's `genrand_int32`). */
  nextUint32(): number {
    if (this.#position >= STATE_WORDS) this.#twist();
    let value = wordAt(this.#state, this.#position++);
    value ^= value >>> 11;
    value ^= (value << 7) & 0x9d2c5680;
    value ^= (value << 15) & 0xefc60000;
    value ^= value >>> 18;
    return value >>> 0;
  }

  /**
   * CPython's `getrandbits(k)` for k <= 32: the top k bits of one output. Wider draws
   * consume several outputs in CPython and are never needed by the Django derivation.
   */
  getrandbits(bitCount: number): number {
    if (!Number.isInteger(bitCount) || bitCount < 0 || bitCount > 32) {
      throw new RangeError("getrandbits supports 0 to 32 bits");
    }
    // CPython returns 0 for k = 0 without drawing; a 32-bit shift would be a no-op in JS.
    if (bitCount === 0) return 0;
    return this.nextUint32() >>> (32 - bitCount);
  }

  /**
   * CPython's `_randbelow_with_getrandbits(limit)`, which is what `randint(0, limit - 1)` and
   * `randrange(limit)` reduce to: draw bit_length(limit) bits until the value is below limit.
   * Rejection, not modulo, so it may consume more than one output.
   */
  randbelow(limit: number): number {
    if (!Number.isInteger(limit) || limit < 1 || limit > 0xffffffff) {
      // limit 0 would loop forever in CPython too (getrandbits(0) is always 0).
      throw new RangeError("randbelow needs an integer limit in [1, 2^32)");
    }
    const bitCount = 32 - Math.clz32(limit);
    let candidate = this.getrandbits(bitCount);
    while (candidate >= limit) candidate = this.getrandbits(bitCount);
    return candidate;
  }

  #mixInKey(key: Uint32Array): void {
    const state = this.#state;
    state[0] = 19650218;
    for (let index = 1; index < STATE_WORDS; index++) {
      const previous = wordAt(state, index - 1);
      state[index] = Math.imul(1812433253, previous ^ (previous >>> 30)) + index;
    }

    let index = 1;
    let keyIndex = 0;
    for (let remaining = Math.max(STATE_WORDS, key.length); remaining > 0; remaining--) {
      const previous = wordAt(state, index - 1);
      state[index] = (wordAt(state, index) ^ Math.imul(previous ^ (previous >>> 30), 1664525)) + wordAt(key, keyIndex) + keyIndex;
      index++;
      keyIndex++;
      if (index >= STATE_WORDS) {
        state[0] = wordAt(state, STATE_WORDS - 1);
        index = 1;
      }
      if (keyIndex >= key.length) keyIndex = 0;
    }
    for (let remaining = STATE_WORDS - 1; remaining > 0; remaining--) {
      const previous = wordAt(state, index - 1);
      state[index] = (wordAt(state, index) ^ Math.imul(previous ^ (previous >>> 30), 1566083941)) - index;
      index++;
      if (index >= STATE_WORDS) {
        state[0] = wordAt(state, STATE_WORDS - 1);
        index = 1;
      }
    }
    // The reference sets the top bit so the state can never be all zeros.
    state[0] = UPPER_BIT;
    this.#position = STATE_WORDS;
  }

  #twist(): void {
    const state = this.#state;
    for (let index = 0; index < STATE_WORDS; index++) {
      const mixed = (wordAt(state, index) & UPPER_BIT) | (wordAt(state, (index + 1) % STATE_WORDS) & LOWER_BITS);
      const twisted = (mixed >>> 1) ^ (mixed & 1 ? TWIST_MATRIX : 0);
      state[index] = wordAt(state, (index + SHIFT_SIZE) % STATE_WORDS) ^ twisted;
    }
    this.#position = 0;
  }
}

/** Reads a word whose index is in range by construction (the type system cannot see the loop bounds). */
function wordAt(words: Uint32Array, index: number): number {
  return words[index] ?? 0;
}

/** The `init_by_array` key CPython's `random.seed(n)` builds from an integer n. */
export function cpythonSeedKey(seed: bigint): Uint32Array {
  let magnitude = seed < 0n ? -seed : seed;
  const words: number[] = [];
  do {
    words.push(Number(magnitude & 0xffffffffn));
    magnitude >>= 32n;
  } while (magnitude > 0n);
  return Uint32Array.from(words);
}
