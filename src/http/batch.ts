/**
 * What every batch route shares: the item limit, checked before the schema walks the items, and
 * the per-item answer, where one item's failure (a CaasError) becomes that item's
 * {"error": {"code", "message"}} and the others go on.
 */
import { BatchTooLarge, CaasError, errorBody, type ErrorBody } from "./errors.ts";

/** The default most items in one batch (CAAS_BATCH_MAX); config.batchMax is the one in force. */
export const DEFAULT_BATCH_MAX = 1000;

/**
 * Refuses a batch over the limit with its own code (413 batch_too_large). Meant for the
 * transform phase: it sees the parsed body before validation, so an oversized batch is refused
 * before its items are checked, whatever else is wrong with them.
 */
export function assertBatchSize(body: unknown, batchMax: number): void {
  if (typeof body !== "object" || body === null || !("items" in body)) return;
  const { items } = body as { readonly items: unknown };
  if (Array.isArray(items) && items.length > batchMax) throw new BatchTooLarge(batchMax);
}

function itemError(error: unknown): ErrorBody {
  // Only caas's own failures are an item's answer; anything else is a bug and fails the request (a logged 500).
  if (error instanceof CaasError) return errorBody(error.code, error.message);
  throw error;
}

/**
 * `answer` applied to every item, in order, each failure kept to its item. Synchronous when
 * every answer is; a promise when any is.
 */
export function answerEach<Item, Answer>(items: readonly Item[], answer: (item: Item) => Answer | Promise<Answer>): (Answer | ErrorBody)[] | Promise<(Answer | ErrorBody)[]> {
  let pending = false;
  const results = items.map((item): Answer | ErrorBody | Promise<Answer | ErrorBody> => {
    try {
      const result = answer(item);
      if (result instanceof Promise) {
        pending = true;
        return result.catch(itemError);
      }
      return result;
    } catch (error) {
      return itemError(error);
    }
  });
  return pending ? Promise.all(results) : (results as (Answer | ErrorBody)[]);
}
