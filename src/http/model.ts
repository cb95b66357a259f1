import { t } from "elysia";

export const ErrorAnswer = t.Object(
  {
    error: t.Object({
      code: t.String({ description: "Stable machine-readable code", examples: ["invalid_body"] }),
      message: t.String({ description: "Human explanation; never contains request data" }),
    }),
  },
  { description: "Every failure has this shape." },
);

/** The error answers every JSON endpoint can give, for the OpenAPI document. */
export const commonErrorAnswers = {
  400: ErrorAnswer,
  413: ErrorAnswer,
  415: ErrorAnswer,
  429: ErrorAnswer,
} as const;
