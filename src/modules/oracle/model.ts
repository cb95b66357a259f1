import { t } from "elysia";

const base64 = (description: string, example: string) =>
  t.String({ description: `${description} (standard padded base64)`, examples: [example] });

export const SealRequest = t.Object(
  {
    data: t.String({ description: "UTF-8 text to encrypt", examples: ["attack at dawn"] }),
    aad: t.Optional(t.String({ description: "UTF-8 text to authenticate but not encrypt; not returned", examples: ["order-42"] })),
  },
  { additionalProperties: false, examples: [{ data: "attack at dawn" }] },
);

export const SealedText = t.Object(
  {
    data: base64("Ciphertext without the tag", "c2VjcmV0IGJ5dGVz"),
    key: base64("Fresh random AES-256 key", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k="),
    mac: base64("128-bit GCM authentication tag", "3q2+796tvu/erb7v3q2+7w=="),
    nonce: base64("Fresh random 96-bit nonce", "AAECAwQFBgcICQoL"),
  },
  { additionalProperties: false },
);

export const OpenRequest = t.Object(
  {
    data: base64("Ciphertext without the tag", "c2VjcmV0IGJ5dGVz"),
    key: base64("The key the oracle returned (16, 24 or 32 bytes)", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k="),
    mac: base64("128-bit tag", "3q2+796tvu/erb7v3q2+7w=="),
    nonce: base64("Nonce (12 bytes; 16 for the Flask original's ciphertexts)", "AAECAwQFBgcICQoL"),
    aad: t.Optional(t.String({ description: "The aad given when sealing, if any" })),
  },
  { additionalProperties: false },
);

export const OpenedText = t.Object({ data: t.String({ description: "The decrypted UTF-8 text" }) }, { additionalProperties: false });

export type SealRequest = typeof SealRequest.static;
export type SealedText = typeof SealedText.static;
export type OpenRequest = typeof OpenRequest.static;
