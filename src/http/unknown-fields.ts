/**
 * What the originals' routes do with a field caas does not know: ignore it, as the originals
 * did, so a client that forwards whole objects keeps working. Except where ignoring it could
 * change what the caller gets back. A route's caas options (the oracle's aad and wrap_with) are
 * not the original's, so a body that uses one is written for caas and gets caas's strictness;
 * and a field whose name looks like one is refused, because dropping a misspelt wrap_with would
 * hand back in clear the data key the caller asked to keep wrapped.
 */
import { editDistance } from "../closest-name.ts";
import { InvalidBody } from "../errors.ts";

/** A field an original's route takes that the original did not. */
export interface CaasOption {
  /** The field's name in the route's schema. */
  readonly name: string;
  /** Words that, anywhere in a field's name, mean this option ("wrap" for wrap_with). */
  readonly stems?: readonly string[];
}

interface FoldedOption {
  readonly name: string;
  readonly folded: string;
  readonly stems: readonly string[];
  /** Edits within which a name is taken for this one: a third of its folded length, at least one. */
  readonly edits: number;
}

/** How one original's route treats the fields of a body: those it knows, and its caas options among them. */
export interface UnknownFieldRule {
  readonly known: ReadonlySet<string>;
  readonly options: readonly FoldedOption[];
}

/** A name with case and all but letters and digits dropped, so Wrap-With, wrapWith and WRAP_WITH are one. */
function folded(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

export function unknownFieldRule(known: Iterable<string>, options: readonly CaasOption[]): UnknownFieldRule {
  return {
    known: new Set(known),
    options: options.map(({ name, stems = [] }) => {
      const foldedName = folded(name);
      return { name, folded: foldedName, stems: [foldedName, ...stems], edits: Math.max(1, Math.floor(foldedName.length / 3)) };
    }),
  };
}

/** Whether a field name looks like a misspelling of `option`: it holds the option's name or a stem, or is a few edits from it. */
function looksLike(name: string, option: FoldedOption): boolean {
  const candidate = folded(name);
  if (option.stems.some((stem) => candidate.includes(stem))) return true;
  // Edits are at least the difference in length, so a long name is never compared in full.
  return Math.abs(candidate.length - option.folded.length) <= option.edits && editDistance(candidate, option.folded) <= option.edits;
}

/**
 * Refuses (400 invalid_body) a body whose unknown fields cannot safely be ignored: any, beside a
 * caas option; or one that looks like a caas option. The message names the option, never the
 * field, which is input.
 */
export function checkUnknownFields(body: object, rule: UnknownFieldRule): void {
  const names = Object.keys(body);
  // The common body holds known fields only: that is all it costs.
  if (names.every((name) => rule.known.has(name))) return;
  const unknown = names.filter((name) => !rule.known.has(name));
  if (rule.options.some((option) => Object.hasOwn(body, option.name))) {
    const options = rule.options.map((option) => option.name).join(" or ");
    throw new InvalidBody(
      `Beside ${options}, options the original did not have, every field must be one this endpoint accepts; see /swagger for the schema.`,
    );
  }
  for (const option of rule.options) {
    if (unknown.some((name) => looksLike(name, option)))
      throw new InvalidBody(
        `A field looks like a misspelling of ${option.name}, so it is refused rather than ignored; see /swagger for the schema.`,
      );
  }
}
