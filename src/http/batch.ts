/**
 * What every batch route shares: the item limit, checked before the schema walks the items, and
 * the per-item answer, where one item's failure (a RequestError) becomes that item's
 * {"error": {"code", "message"}} and the others go on.
 */
import { BatchTooLarge, errorBody, type ErrorBody, RequestError } from "../errors.ts";

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
  if (error instanceof RequestError) return errorBody(error.code, error.message);
  throw error;
}

/** `answer` applied to every item, in order, each failure kept to its item. */
export function answerEach<Item, Answer>(items: readonly Item[], answer: (item: Item) => Answer): (Answer | ErrorBody)[] {
  return items.map((item) => {
    try {
      return answer(item);
    } catch (error) {
      return itemError(error);
    }
  });
}
