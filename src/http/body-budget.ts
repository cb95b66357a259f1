/**
 * One budget of request-body bytes for the whole process (CAAS_MAX_BODY_IN_FLIGHT). Every body
 * is reserved before it is read, so however many connections hold a body open, the bodies
 * together never take more memory than the budget: a body that does not fit is answered 503
 * at once, unread, and Bun then discards its bytes instead of buffering them.
 */

export class BodyBudget {
  readonly limitBytes: number;
  #inFlight = 0;
  #refusals = 0;

  constructor(limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 0) throw new RangeError("limitBytes must be a whole number >= 0");
    this.limitBytes = limitBytes;
  }

  /** Bytes reserved now by bodies being read or parsed. */
  get bytesInFlight(): number {
    return this.#inFlight;
  }

  /** Bodies refused because the budget was full, since start. */
  get refusals(): number {
    return this.#refusals;
  }

  /** Takes `bytes` from the budget: false, counted as a refusal, when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#inFlight + bytes > this.limitBytes) {
      this.#refusals += 1;
      return false;
    }
    this.#inFlight += bytes;
    return true;
  }

  /** Gives back bytes taken by reserve(); the caller gives back exactly what it took, once. */
  release(bytes: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes);
  }
}
