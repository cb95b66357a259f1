// Generated from caas's OpenAPI document (/swagger/json) by `bun run openapi:types`: do not edit.
export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process answers */
        get: operations["getHealthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: secret and keys loaded, not draining */
        get: operations["getReadyz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oracleinvocation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Encrypt text under a fresh AES-256-GCM key
         * @description Also served at /oracleinvocation/ (the Flask original's README path). Every call draws a new 256-bit key and 96-bit nonce; nothing is stored or logged. With "wrap_with": NAME (envelope mode; an API key with scope keyring:NAME or keyring:NAME:datakey) the key comes back only as wrapped_key, sealed under keyring key NAME.
         */
        post: operations["oracle.seal"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oracleinvocation/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Encrypt many texts, each under its own fresh key
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large). Each item is sealed as POST /oracleinvocation would, under its own key and nonce; results come in the order of items, and an item that fails (say, a lone surrogate in its data) gets {"error":{"code","message"}} in its place while the others are sealed. A wrongly typed item fails the whole request (400 invalid_body).
         */
        post: operations["oracle.seal_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oracleinvocation/decrypt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Decrypt what the oracle sealed
         * @description A wrong key, tag, nonce or aad gives 400 authentication_failed and nothing more. Envelope mode: send wrapped_key and "wrap_with": NAME in place of key, with an API key with scope keyring:NAME or keyring:NAME:decrypt.
         */
        post: operations["oracle.open"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/encrypt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The pseudonym of sensitiveData for a user
         * @description Deterministic: the same key profile, user and data give the same encrypted_data. Also served at /encode (the Django original's code path) and with a trailing slash. The API key (scope pseudonym) comes as apiKey in the JSON body (the Django original's way), as Authorization: Bearer, or as X-API-Key; where several are sent they must be equal.
         */
        post: operations["pseudonym.encrypt"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/encrypt/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Many pseudonyms in one call, under one API key
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), each answered as POST /encrypt would, in order; an item that fails (say, a userUUID that is not a UUID) gets {"error":{"code","message"}} in its place while the others are answered. One API key for the whole batch, in the body or a header; a wrongly typed item fails the whole request (400 invalid_body). The API key (scope pseudonym) comes as apiKey in the JSON body (the Django original's way), as Authorization: Bearer, or as X-API-Key; where several are sent they must be equal.
         */
        post: operations["pseudonym.encrypt_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/encode": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Same as /encrypt (the Django original's code path)
         * @description Also served with a trailing slash. The API key (scope pseudonym) comes as apiKey in the JSON body (the Django original's way), as Authorization: Bearer, or as X-API-Key; where several are sent they must be equal.
         */
        post: operations["pseudonym.encode"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Whether encrypted_data is this user's pseudonym of sensitiveData
         * @description Compared in constant time against every secret version that verifies (staged ones included), so pseudonyms made before a rotation still match; with `version`, against that version alone, and a version this instance has not loaded is 503 secret_version_unknown with Retry-After. The API key (scope pseudonym) comes as apiKey in the JSON body (the Django original's way), as Authorization: Bearer, or as X-API-Key; where several are sent they must be equal.
         */
        post: operations["pseudonym.verify"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/encrypt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Encrypt under the key's newest version
         * @description XAES-256-GCM with a random 192-bit nonce; the key name, version and aad are authenticated. Scope keyring:NAME or keyring:NAME:encrypt. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.encrypt"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/encrypt/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Encrypt many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.encrypt_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/decrypt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Decrypt a caas ciphertext of this key
         * @description 400 invalid_ciphertext (not the format), key_version_retired (below the min decryption version), authentication_failed (anything else that does not open), plaintext_not_utf8 (ask with encoding base64). The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.decrypt"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/decrypt/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Decrypt many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.decrypt_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/rewrap": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Re-encrypt under the newest version
         * @description Same aad; the plaintext never leaves caas. Scope keyring:NAME or keyring:NAME:rewrap. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.rewrap"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/rewrap/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rewrap many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.rewrap_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/datakey": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A fresh 256-bit data key, wrapped under this key
         * @description For envelope encryption of large data: encrypt locally with key, store wrapped_key beside it, decrypt wrapped_key (encoding base64) to get the key back. plaintext false returns only wrapped_key. Scope keyring:NAME or keyring:NAME:datakey; with plaintext false, keyring:NAME:datakey-wrapped is enough. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.datakey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/sign": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Sign data with the key's active version
         * @description ed25519, ecdsa-p256 (r‖s by default, format der for ASN.1) or rsa-2048 (PSS by default, padding pkcs1 for PKCS#1 v1.5) keys; 400 unsupported_operation for another type. Scope keyring:NAME or keyring:NAME:sign. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.sign"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/sign/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Sign many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.sign_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/hmac": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * HMAC-SHA-256 of data under the key's active version
         * @description hmac-sha256 keys only. Scope keyring:NAME or keyring:NAME:sign. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.hmac"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/hmac/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * MAC many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.hmac_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Check a caas signature or MAC over data
         * @description valid false for a signature or MAC that is not this key's over this data; 400 invalid_signature for a string that is not caas:v<version>:<base64>, key_version_retired for a version below the minimum; 503 key_version_unknown for a version above any this instance holds. MACs are compared in constant time. Scope keyring:NAME or keyring:NAME:verify. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.verify"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/verify/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Verify many
         * @description Up to 1000 items (CAAS_BATCH_MAX; more is 413 batch_too_large), in order; an item that fails gets {"error":{"code","message"}} in its place while the others are answered. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.verify_batch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/jwt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Sign a JWT with the key's active version
         * @description caas writes the header (alg from the key's type: EdDSA, ES256, RS256 or HS256; kid <name>.v<version>; typ JWT), iat (now) and exp (iat + expires_in, 3600 s when absent, at most 30 days). 400 invalid_body for claims holding iat or exp, a registered claim of another type (nbf a number; aud a string or strings; iss, sub, jti strings) or a number JSON cannot write; 400 invalid_text for a lone surrogate. Scope keyring:NAME or keyring:NAME:sign. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.jwt"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/jwt/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Verify a JWT this key signed
         * @description valid true with the claims and kid, or valid false with a reason: malformed, bad_signature, expired, not_yet_valid, wrong_audience, wrong_issuer, unknown_kid (another key, or a retired version), wrong_alg (alg not the key's: "none", HS256 against a signing key). 503 key_version_unknown for a kid naming a version above any this instance holds. Scope keyring:NAME or keyring:NAME:verify. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        post: operations["keyring.jwt_verify"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/keyring/{name}/public-key": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The key's public versions
         * @description Every version that verifies (staged, active, decrypt-only), with its state, as PEM (SubjectPublicKeyInfo) and as a JWK. Signing keys only. Scope keyring:NAME or keyring:NAME:verify. The API key comes in a header, Authorization: Bearer or X-API-Key (a body has no apiKey here).
         */
        get: operations["keyring.public_key"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/.well-known/jwks.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The JSON Web Key Set of every published signing key
         * @description Every version that verifies (staged, active, decrypt-only) of each key created with --publish; never an HMAC key, a private member or an unpublished key. Cache-Control: public, max-age=300.
         */
        get: operations["get.well-knownJwks.json"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/oracleinvocation/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Encrypt text under a fresh AES-256-GCM key
         * @description Also served at /oracleinvocation/ (the Flask original's README path). Every call draws a new 256-bit key and 96-bit nonce; nothing is stored or logged. With "wrap_with": NAME (envelope mode; an API key with scope keyring:NAME or keyring:NAME:datakey) the key comes back only as wrapped_key, sealed under keyring key NAME.
         */
        post: operations["oracle.seal_with_slash"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * DjangoPseudonymAnswer
         * @description Under a django-compat key: the Django original's answer, field for field
         */
        DjangoPseudonymAnswer: {
            /**
             * @description The pseudonym, lowercase hex
             * @example 35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1
             */
            encrypted_data: string;
        };
        /** EnvelopeSealedText */
        EnvelopeSealedText: {
            /**
             * @description Ciphertext without the tag (standard padded base64)
             * @example c2VjcmV0IGJ5dGVz
             */
            data: string;
            /**
             * @description The fresh AES-256 key, sealed under the keyring key named in wrap_with (a caas ciphertext)
             * @example caas:v1:...
             */
            wrapped_key: string;
            /**
             * @description 128-bit GCM authentication tag (standard padded base64)
             * @example 3q2+796tvu/erb7v3q2+7w==
             */
            mac: string;
            /**
             * @description Fresh random 96-bit nonce (standard padded base64)
             * @example AAECAwQFBgcICQoL
             */
            nonce: string;
        };
        /**
         * ErrorAnswer
         * @description Every failure has this shape.
         */
        ErrorAnswer: {
            error: {
                code: components["schemas"]["ErrorCode"];
                /** @description Human explanation; never contains request data */
                message: string;
            };
        };
        /**
         * ErrorCode
         * @description Stable machine-readable code
         * @enum {string}
         */
        ErrorCode: "invalid_json" | "empty_body" | "invalid_utf8" | "invalid_text" | "invalid_body" | "invalid_encoding" | "invalid_uuid" | "invalid_target" | "authentication_failed" | "plaintext_not_utf8" | "invalid_ciphertext" | "invalid_signature" | "unsupported_operation" | "key_version_retired" | "secret_version_retired" | "unauthorized" | "forbidden" | "not_found" | "unknown_key" | "method_not_allowed" | "body_too_large" | "batch_too_large" | "unsupported_media_type" | "rate_limited" | "not_ready" | "busy" | "audit_unavailable" | "key_version_unknown" | "secret_version_unknown" | "internal";
        /** HealthAnswer */
        HealthAnswer: {
            /** @constant */
            status: "ok";
        };
        /** Jwks */
        Jwks: {
            keys: {
                [key: string]: string;
            }[];
        };
        /** KeyringDatakeyAnswer */
        KeyringDatakeyAnswer: {
            /**
             * @description The data key sealed under this keyring key (decrypt it with encoding base64)
             * @example caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg==
             */
            wrapped_key: string;
            /** @description The 32-byte data key, standard base64; absent with plaintext false */
            key?: string;
        };
        /**
         * KeyringDatakeyRequest
         * @example {}
         * @example {
         *       "plaintext": false
         *     }
         */
        KeyringDatakeyRequest: {
            /** @description false: only the wrapped key (GenerateDataKeyWithoutPlaintext); default true */
            plaintext?: boolean;
        };
        /**
         * KeyringDecryptBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "ciphertext": "caas:v1:..."
         *         }
         *       ]
         *     }
         */
        KeyringDecryptBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringDecryptRequest"][];
        };
        /**
         * KeyringDecryptRequest
         * @example {
         *       "ciphertext": "caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg=="
         *     }
         */
        KeyringDecryptRequest: {
            /**
             * @description A caas ciphertext: caas:v<version>:<base64 of nonce, ciphertext and tag>
             * @example caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg==
             */
            ciphertext: string;
            /**
             * @description UTF-8 text authenticated with the ciphertext but not in it; decrypting needs the same. Absent and empty are the same.
             * @example order-42
             */
            aad?: string;
            /**
             * @description utf8 (default): the data is text; base64: the data is bytes, in standard padded base64
             * @example utf8
             */
            encoding?: "utf8" | "base64";
        };
        /**
         * KeyringEncryptBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "data": "attack at dawn"
         *         }
         *       ]
         *     }
         */
        KeyringEncryptBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringEncryptRequest"][];
        };
        /**
         * KeyringEncryptRequest
         * @example {
         *       "data": "attack at dawn"
         *     }
         */
        KeyringEncryptRequest: {
            /**
             * @description Text, or base64 bytes with encoding base64
             * @example attack at dawn
             */
            data: string;
            /**
             * @description UTF-8 text authenticated with the ciphertext but not in it; decrypting needs the same. Absent and empty are the same.
             * @example order-42
             */
            aad?: string;
            /**
             * @description utf8 (default): the data is text; base64: the data is bytes, in standard padded base64
             * @example utf8
             */
            encoding?: "utf8" | "base64";
        };
        /** KeyringHmacAnswer */
        KeyringHmacAnswer: {
            /**
             * @description A caas MAC: caas:v<version>:<base64 of HMAC-SHA-256>
             * @example caas:v1:9t8WJ2Zk3mS3bq1m0x5w8E4pL6rT7yU2iO1aS3dF5gH=
             */
            hmac: string;
            /**
             * @description The key version that made it
             * @example 2
             */
            version: number;
        };
        /** KeyringHmacBatch */
        KeyringHmacBatch: {
            /** @description One result per item, in order: the answer, or that item's error */
            results: (components["schemas"]["KeyringHmacAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /**
         * KeyringHmacBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "data": "order 42 shipped"
         *         }
         *       ]
         *     }
         */
        KeyringHmacBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringHmacRequest"][];
        };
        /**
         * KeyringHmacRequest
         * @example {
         *       "data": "{\"event\":\"order.shipped\"}"
         *     }
         */
        KeyringHmacRequest: {
            /**
             * @description Text, or base64 bytes with encoding base64
             * @example order 42 shipped
             */
            data: string;
            /**
             * @description utf8 (default): the data is text; base64: the data is bytes, in standard padded base64
             * @example utf8
             */
            encoding?: "utf8" | "base64";
        };
        /** KeyringJwtAnswer */
        KeyringJwtAnswer: {
            /**
             * @description The compact JWS
             * @example eyJhbGciOiJFUzI1NiIsImtpZCI6InNlc3Npb25zLnYyIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl
             */
            token: string;
            /**
             * @description The key version that signed it: <name>.v<version>
             * @example sessions.v2
             */
            kid: string;
            /**
             * @description The key version that made it
             * @example 2
             */
            version: number;
        };
        /** KeyringJwtInvalid */
        KeyringJwtInvalid: {
            /** @constant */
            valid: false;
            /**
             * @description Why it is refused: a stable string
             * @default malformed
             * @enum {string}
             */
            reason: "malformed" | "bad_signature" | "expired" | "not_yet_valid" | "wrong_audience" | "wrong_issuer" | "unknown_kid" | "wrong_alg";
        };
        /**
         * KeyringJwtRequest
         * @example {
         *       "claims": {
         *         "sub": "user-42"
         *       },
         *       "expires_in": 900
         *     }
         */
        KeyringJwtRequest: {
            /**
             * @description The token's claims (sub, aud, iss, nbf, anything); iat and exp are caas's own and may not be given
             * @example {
             *       "sub": "user-42",
             *       "aud": "api"
             *     }
             */
            claims: {
                [key: string]: unknown;
            };
            /** @description Seconds until exp: 1 to 2,592,000 (30 days); 3600 when absent */
            expires_in?: number;
        };
        /** KeyringJwtValid */
        KeyringJwtValid: {
            /** @constant */
            valid: true;
            claims: {
                [key: string]: unknown;
            };
            /**
             * @description The key version that signed it: <name>.v<version>
             * @example sessions.v2
             */
            kid: string;
        };
        /** KeyringJwtVerifyAnswer */
        KeyringJwtVerifyAnswer: components["schemas"]["KeyringJwtValid"] | components["schemas"]["KeyringJwtInvalid"];
        /**
         * KeyringJwtVerifyRequest
         * @example {
         *       "token": "eyJhbGciOiJFUzI1NiIsImtpZCI6InNlc3Npb25zLnYyIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl",
         *       "audience": "api"
         *     }
         */
        KeyringJwtVerifyRequest: {
            /**
             * @description A compact JWS
             * @example eyJhbGciOiJFUzI1NiIsImtpZCI6InNlc3Npb25zLnYyIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl
             */
            token: string;
            /** @description aud must be (or hold) this */
            audience?: string;
            /** @description iss must be this */
            issuer?: string;
            /** @description Seconds of clock skew allowed on exp and nbf (0 to 300; 0 when absent) */
            leeway?: number;
        };
        /** KeyringOpenedAnswer */
        KeyringOpenedAnswer: {
            /** @description The plaintext: text, or standard base64 with encoding base64 */
            data: string;
        };
        /** KeyringOpenedBatch */
        KeyringOpenedBatch: {
            /** @description One result per item, in order: the answer, or that item's error */
            results: (components["schemas"]["KeyringOpenedAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /** KeyringPublicKeyAnswer */
        KeyringPublicKeyAnswer: {
            name: string;
            /** @enum {string} */
            type: "ed25519" | "ecdsa-p256" | "rsa-2048";
            versions: {
                /**
                 * @description The key version that made it
                 * @example 2
                 */
                version: number;
                /** @enum {string} */
                state: "staged" | "active" | "decrypt-only";
                /**
                 * @description The key version that signed it: <name>.v<version>
                 * @example sessions.v2
                 */
                kid: string;
                /** @description SubjectPublicKeyInfo, PEM */
                pem: string;
                /** @description The public key as a JWK (kty and its public members, kid, alg, use sig); never a private member */
                jwk: {
                    [key: string]: string;
                };
            }[];
        };
        /**
         * KeyringRewrapBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "ciphertext": "caas:v1:..."
         *         }
         *       ]
         *     }
         */
        KeyringRewrapBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringRewrapRequest"][];
        };
        /**
         * KeyringRewrapRequest
         * @example {
         *       "ciphertext": "caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg=="
         *     }
         */
        KeyringRewrapRequest: {
            /**
             * @description A caas ciphertext: caas:v<version>:<base64 of nonce, ciphertext and tag>
             * @example caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg==
             */
            ciphertext: string;
            /**
             * @description UTF-8 text authenticated with the ciphertext but not in it; decrypting needs the same. Absent and empty are the same.
             * @example order-42
             */
            aad?: string;
        };
        /** KeyringSealedAnswer */
        KeyringSealedAnswer: {
            /**
             * @description A caas ciphertext: caas:v<version>:<base64 of nonce, ciphertext and tag>
             * @example caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg==
             */
            ciphertext: string;
            /**
             * @description The key version it was sealed under
             * @example 3
             */
            version: number;
        };
        /** KeyringSealedBatch */
        KeyringSealedBatch: {
            /** @description One result per item, in order: the answer, or that item's error */
            results: (components["schemas"]["KeyringSealedAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /** KeyringSignAnswer */
        KeyringSignAnswer: {
            /**
             * @description A caas signature: caas:v<version>:<base64>
             * @example caas:v2:MEUCIQDh3r2tq8v6Z0Xa1i2dM1sI6Hk3G9p1nq0lV3m6yQKnZwIgZ2o7bqJ4e0U1l9Qb0S8A6m1xX3v5mP2nq7c8d9e0f1g=
             */
            signature: string;
            /**
             * @description The key version that made it
             * @example 2
             */
            version: number;
        };
        /** KeyringSignBatch */
        KeyringSignBatch: {
            /** @description One result per item, in order: the answer, or that item's error */
            results: (components["schemas"]["KeyringSignAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /**
         * KeyringSignBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "data": "order 42 shipped"
         *         }
         *       ]
         *     }
         */
        KeyringSignBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringSignRequest"][];
        };
        /**
         * KeyringSignRequest
         * @example {
         *       "data": "order 42 shipped"
         *     }
         */
        KeyringSignRequest: {
            /**
             * @description Text, or base64 bytes with encoding base64
             * @example order 42 shipped
             */
            data: string;
            /**
             * @description utf8 (default): the data is text; base64: the data is bytes, in standard padded base64
             * @example utf8
             */
            encoding?: "utf8" | "base64";
            /** @description ecdsa-p256 keys only: p1363 (default), r‖s in 64 bytes as JWS and Web Crypto use; der, ASN.1 as OpenSSL makes it */
            format?: "p1363" | "der";
            /** @description rsa-2048 keys only: pss (default; SHA-256, MGF1-SHA-256, 32-byte salt) or pkcs1 (PKCS#1 v1.5) */
            padding?: "pss" | "pkcs1";
        };
        /** KeyringVerifyAnswer */
        KeyringVerifyAnswer: {
            /** @description Whether it is this key's, over this data */
            valid: boolean;
        };
        /** KeyringVerifyBatch */
        KeyringVerifyBatch: {
            /** @description One result per item, in order: the answer, or that item's error */
            results: (components["schemas"]["KeyringVerifyAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /**
         * KeyringVerifyBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "data": "order 42 shipped",
         *           "signature": "caas:v1:..."
         *         }
         *       ]
         *     }
         */
        KeyringVerifyBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["KeyringVerifyRequest"][];
        };
        /**
         * KeyringVerifyRequest
         * @description signature for a signing key, hmac for an hmac-sha256 key: exactly one of them
         * @example {
         *       "data": "order 42 shipped",
         *       "signature": "caas:v2:MEUCIQDh3r2tq8v6Z0Xa1i2dM1sI6Hk3G9p1nq0lV3m6yQKnZwIgZ2o7bqJ4e0U1l9Qb0S8A6m1xX3v5mP2nq7c8d9e0f1g="
         *     }
         */
        KeyringVerifyRequest: {
            /**
             * @description Text, or base64 bytes with encoding base64
             * @example order 42 shipped
             */
            data: string;
            /**
             * @description utf8 (default): the data is text; base64: the data is bytes, in standard padded base64
             * @example utf8
             */
            encoding?: "utf8" | "base64";
            /**
             * @description A caas signature: caas:v<version>:<base64>
             * @example caas:v2:MEUCIQDh3r2tq8v6Z0Xa1i2dM1sI6Hk3G9p1nq0lV3m6yQKnZwIgZ2o7bqJ4e0U1l9Qb0S8A6m1xX3v5mP2nq7c8d9e0f1g=
             */
            signature?: string;
            /**
             * @description A caas MAC: caas:v<version>:<base64 of HMAC-SHA-256>
             * @example caas:v1:9t8WJ2Zk3mS3bq1m0x5w8E4pL6rT7yU2iO1aS3dF5gH=
             */
            hmac?: string;
            /** @description ecdsa-p256 keys only: p1363 (default), r‖s in 64 bytes as JWS and Web Crypto use; der, ASN.1 as OpenSSL makes it */
            format?: "p1363" | "der";
            /** @description rsa-2048 keys only: pss (default; SHA-256, MGF1-SHA-256, 32-byte salt) or pkcs1 (PKCS#1 v1.5) */
            padding?: "pss" | "pkcs1";
        };
        /** OpenRequest */
        OpenRequest: {
            /**
             * @description Ciphertext without the tag (standard padded base64)
             * @example c2VjcmV0IGJ5dGVz
             */
            data: string;
            /**
             * @description The key the oracle returned (16, 24 or 32 bytes) (standard padded base64)
             * @example q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=
             */
            key?: string;
            /** @description Envelope mode, in place of key: the wrapped_key the oracle returned; needs wrap_with and an API key with scope keyring:NAME or keyring:NAME:decrypt */
            wrapped_key?: string;
            /**
             * @description Envelope mode: the keyring key to wrap the data key under; the answer then has wrapped_key and no key. Needs an API key (header) with scope keyring:NAME or keyring:NAME:datakey
             * @example orders
             */
            wrap_with?: string;
            /**
             * @description 128-bit tag (standard padded base64)
             * @example 3q2+796tvu/erb7v3q2+7w==
             */
            mac: string;
            /**
             * @description Nonce (12 bytes; 16 for the Flask original's ciphertexts) (standard padded base64)
             * @example AAECAwQFBgcICQoL
             */
            nonce: string;
            /** @description The aad given when sealing, if any */
            aad?: string;
        };
        /** OpenedText */
        OpenedText: {
            /** @description The decrypted UTF-8 text */
            data: string;
        };
        /** OracleAnswer */
        OracleAnswer: components["schemas"]["SealedText"] | components["schemas"]["EnvelopeSealedText"];
        /** PseudonymAnswer */
        PseudonymAnswer: components["schemas"]["StandardPseudonymAnswer"] | components["schemas"]["DjangoPseudonymAnswer"];
        /** PseudonymBatchAnswer */
        PseudonymBatchAnswer: {
            /** @description One result per item, in the order of `items`: the pseudonym, or that item's error (the others are unaffected) */
            results: (components["schemas"]["StandardPseudonymAnswer"] | components["schemas"]["DjangoPseudonymAnswer"] | components["schemas"]["ErrorAnswer"])[];
        };
        /**
         * PseudonymBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c",
         *           "sensitiveData": "example sensitive data"
         *         }
         *       ]
         *     }
         */
        PseudonymBatchRequest: {
            /**
             * @description The API key; may instead come as 'Authorization: Bearer <key>' or 'X-API-Key'. Where several are sent they must be equal.
             * @example caas_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu_e
             */
            apiKey?: string;
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["PseudonymItem"][];
        };
        /** PseudonymItem */
        PseudonymItem: {
            /**
             * @description The user's id: an RFC 9562 UUID, any case (django-compat keys: any string, case-sensitive)
             * @example 4dbcbcfe-4800-40a8-badf-c26b73af230c
             */
            userUUID: string;
            /**
             * @description UTF-8 text to pseudonymize; never stored or logged
             * @example example sensitive data
             */
            sensitiveData: string;
        };
        /**
         * PseudonymRequest
         * @description Other fields are ignored, as the Django original ignored them.
         * @example {
         *       "userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c",
         *       "sensitiveData": "example sensitive data"
         *     }
         */
        PseudonymRequest: {
            /**
             * @description The API key; may instead come as 'Authorization: Bearer <key>' or 'X-API-Key'. Where several are sent they must be equal.
             * @example caas_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu_e
             */
            apiKey?: string;
            /**
             * @description The user's id: an RFC 9562 UUID, any case (django-compat keys: any string, case-sensitive)
             * @example 4dbcbcfe-4800-40a8-badf-c26b73af230c
             */
            userUUID: string;
            /**
             * @description UTF-8 text to pseudonymize; never stored or logged
             * @example example sensitive data
             */
            sensitiveData: string;
        } & {
            [key: string]: unknown;
        };
        /** ReadyAnswer */
        ReadyAnswer: {
            /** @constant */
            status: "ready";
        };
        /**
         * SealBatchRequest
         * @example {
         *       "items": [
         *         {
         *           "data": "attack at dawn"
         *         },
         *         {
         *           "data": "retreat at dusk",
         *           "aad": "order-43"
         *         }
         *       ]
         *     }
         */
        SealBatchRequest: {
            /** @description At most 1000 items (CAAS_BATCH_MAX); an empty list gets an empty list */
            items: components["schemas"]["SealItem"][];
        };
        /** SealItem */
        SealItem: {
            /**
             * @description UTF-8 text to encrypt
             * @example attack at dawn
             */
            data: string;
            /**
             * @description UTF-8 text to authenticate but not encrypt; not returned
             * @example order-42
             */
            aad?: string;
        };
        /**
         * SealRequest
         * @description Other fields are ignored, as the Flask original ignored them, except: beside aad or wrap_with (options the original did not have) every field must be one of these; and a field whose name looks like aad or wrap_with (case and punctuation aside: holding its name, or 'wrap' or 'envelope', or within a third of its length in edits) is refused. Either is 400 invalid_body.
         * @example {
         *       "data": "attack at dawn"
         *     }
         */
        SealRequest: {
            /**
             * @description UTF-8 text to encrypt
             * @example attack at dawn
             */
            data: string;
            /**
             * @description UTF-8 text to authenticate but not encrypt; not returned
             * @example order-42
             */
            aad?: string;
            /**
             * @description Envelope mode: the keyring key to wrap the data key under; the answer then has wrapped_key and no key. Needs an API key (header) with scope keyring:NAME or keyring:NAME:datakey
             * @example orders
             */
            wrap_with?: string;
        } & {
            [key: string]: unknown;
        };
        /** SealedBatch */
        SealedBatch: {
            /** @description One result per item, in the order of `items`: the sealed text, or that item's error (the others are unaffected) */
            results: (components["schemas"]["SealedText"] | components["schemas"]["ErrorAnswer"])[];
        };
        /** SealedText */
        SealedText: {
            /**
             * @description Ciphertext without the tag (standard padded base64)
             * @example c2VjcmV0IGJ5dGVz
             */
            data: string;
            /**
             * @description Fresh random AES-256 key (standard padded base64)
             * @example q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=
             */
            key: string;
            /**
             * @description 128-bit GCM authentication tag (standard padded base64)
             * @example 3q2+796tvu/erb7v3q2+7w==
             */
            mac: string;
            /**
             * @description Fresh random 96-bit nonce (standard padded base64)
             * @example AAECAwQFBgcICQoL
             */
            nonce: string;
        };
        /** StandardPseudonymAnswer */
        StandardPseudonymAnswer: {
            /**
             * @description The pseudonym, lowercase hex
             * @example 35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1
             */
            encrypted_data: string;
            /**
             * @description The server secret version it was made under
             * @example 1
             */
            version: number;
        };
        /** VerifyAnswer */
        VerifyAnswer: {
            /** @description Whether encrypted_data is this user's pseudonym of sensitiveData under any secret version */
            match: boolean;
        };
        /** VerifyRequest */
        VerifyRequest: {
            /**
             * @description The API key; may instead come as 'Authorization: Bearer <key>' or 'X-API-Key'. Where several are sent they must be equal.
             * @example caas_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu_e
             */
            apiKey?: string;
            /**
             * @description The user's id: an RFC 9562 UUID, any case (django-compat keys: any string, case-sensitive)
             * @example 4dbcbcfe-4800-40a8-badf-c26b73af230c
             */
            userUUID: string;
            /**
             * @description UTF-8 text to pseudonymize; never stored or logged
             * @example example sensitive data
             */
            sensitiveData: string;
            /**
             * @description A pseudonym /encrypt returned, in hex (either case); at most 128 characters
             * @example 35db2f10e244a19686cf929071a80ac7029ad03cff2b7aebff4bac148c7dd32f64cf96c0b4122eb61f4ced1bba6672c1
             */
            encrypted_data: string;
            /**
             * @description The secret version /encrypt answered with it. Given, only that version is compared, and a version this instance has not loaded is 503 secret_version_unknown rather than a match: false it cannot know
             * @example 1
             */
            version?: number;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getHealthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthAnswer"];
                };
            };
        };
    };
    getReadyz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ReadyAnswer"];
                };
            };
            /** @description The error answer, with one of: not_ready. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "not_ready";
                        };
                    };
                };
            };
        };
    };
    "oracle.seal": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Other fields are ignored, as the Flask original ignored them, except: beside aad or wrap_with (options the original did not have) every field must be one of these; and a field whose name looks like aad or wrap_with (case and punctuation aside: holding its name, or 'wrap' or 'envelope', or within a third of its length in edits) is refused. Either is 400 invalid_body. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "attack at dawn"
                 *     }
                 */
                "application/json": components["schemas"]["SealRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OracleAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_text, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_text" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "oracle.seal_batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "data": "attack at dawn"
                 *         },
                 *         {
                 *           "data": "retreat at dusk",
                 *           "aad": "order-43"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["SealBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SealedBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "oracle.open": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["OpenRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OpenedText"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_text, invalid_encoding, authentication_failed, plaintext_not_utf8, unsupported_operation, invalid_ciphertext, key_version_retired. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_text" | "invalid_encoding" | "authentication_failed" | "plaintext_not_utf8" | "unsupported_operation" | "invalid_ciphertext" | "key_version_retired";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "pseudonym.encrypt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Other fields are ignored, as the Django original ignored them. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c",
                 *       "sensitiveData": "example sensitive data"
                 *     }
                 */
                "application/json": components["schemas"]["PseudonymRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PseudonymAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_uuid, invalid_text. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_uuid" | "invalid_text";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "pseudonym.encrypt_batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c",
                 *           "sensitiveData": "example sensitive data"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["PseudonymBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PseudonymBatchAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "pseudonym.encode": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Other fields are ignored, as the Django original ignored them. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c",
                 *       "sensitiveData": "example sensitive data"
                 *     }
                 */
                "application/json": components["schemas"]["PseudonymRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PseudonymAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_uuid, invalid_text. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_uuid" | "invalid_text";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "pseudonym.verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["VerifyRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["VerifyAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_uuid, invalid_text, secret_version_retired. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_uuid" | "invalid_text" | "secret_version_retired";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable, secret_version_unknown. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable" | "secret_version_unknown";
                        };
                    };
                };
            };
        };
    };
    "keyring.encrypt": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "attack at dawn"
                 *     }
                 */
                "application/json": components["schemas"]["KeyringEncryptRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSealedAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_text, invalid_encoding. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_text" | "invalid_encoding";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.encrypt_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "data": "attack at dawn"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringEncryptBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSealedBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.decrypt": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "ciphertext": "caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg=="
                 *     }
                 */
                "application/json": components["schemas"]["KeyringDecryptRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringOpenedAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_ciphertext, key_version_retired, authentication_failed, invalid_text, plaintext_not_utf8. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_ciphertext" | "key_version_retired" | "authentication_failed" | "invalid_text" | "plaintext_not_utf8";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.decrypt_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "ciphertext": "caas:v1:..."
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringDecryptBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringOpenedBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.rewrap": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "ciphertext": "caas:v3:5cLkY0eqgZ1pP1x0bS8sR7mQvQ2y9Wc3hAqvJ2Yh0rM4kqXb3C1fRg=="
                 *     }
                 */
                "application/json": components["schemas"]["KeyringRewrapRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSealedAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_ciphertext, key_version_retired, authentication_failed, invalid_text. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_ciphertext" | "key_version_retired" | "authentication_failed" | "invalid_text";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.rewrap_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "ciphertext": "caas:v1:..."
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringRewrapBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSealedBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.datakey": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /** @example {} */
                "application/json": components["schemas"]["KeyringDatakeyRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringDatakeyAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.sign": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "order 42 shipped"
                 *     }
                 */
                "application/json": components["schemas"]["KeyringSignRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSignAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_text, invalid_encoding. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_text" | "invalid_encoding";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.sign_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "data": "order 42 shipped"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringSignBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringSignBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.hmac": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "{\"event\":\"order.shipped\"}"
                 *     }
                 */
                "application/json": components["schemas"]["KeyringHmacRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringHmacAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_text, invalid_encoding. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_text" | "invalid_encoding";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.hmac_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "data": "order 42 shipped"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringHmacBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringHmacBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.verify": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        /** @description signature for a signing key, hmac for an hmac-sha256 key: exactly one of them */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "order 42 shipped",
                 *       "signature": "caas:v2:MEUCIQDh3r2tq8v6Z0Xa1i2dM1sI6Hk3G9p1nq0lV3m6yQKnZwIgZ2o7bqJ4e0U1l9Qb0S8A6m1xX3v5mP2nq7c8d9e0f1g="
                 *     }
                 */
                "application/json": components["schemas"]["KeyringVerifyRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringVerifyAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_signature, key_version_retired, invalid_text, invalid_encoding. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_signature" | "key_version_retired" | "invalid_text" | "invalid_encoding";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable, key_version_unknown. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable" | "key_version_unknown";
                        };
                    };
                };
            };
        };
    };
    "keyring.verify_batch": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "items": [
                 *         {
                 *           "data": "order 42 shipped",
                 *           "signature": "caas:v1:..."
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["KeyringVerifyBatchRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringVerifyBatch"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large, batch_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large" | "batch_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.jwt": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "claims": {
                 *         "sub": "user-42"
                 *       },
                 *       "expires_in": 900
                 *     }
                 */
                "application/json": components["schemas"]["KeyringJwtRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringJwtAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation, invalid_text. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation" | "invalid_text";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "keyring.jwt_verify": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "token": "eyJhbGciOiJFUzI1NiIsImtpZCI6InNlc3Npb25zLnYyIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl",
                 *       "audience": "api"
                 *     }
                 */
                "application/json": components["schemas"]["KeyringJwtVerifyRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringJwtVerifyAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable, key_version_unknown. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable" | "key_version_unknown";
                        };
                    };
                };
            };
        };
    };
    "keyring.public_key": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyringPublicKeyAnswer"];
                };
            };
            /** @description The error answer, with one of: unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
    "get.well-knownJwks.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Jwks"];
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
        };
    };
    "oracle.seal_with_slash": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Other fields are ignored, as the Flask original ignored them, except: beside aad or wrap_with (options the original did not have) every field must be one of these; and a field whose name looks like aad or wrap_with (case and punctuation aside: holding its name, or 'wrap' or 'envelope', or within a third of its length in edits) is refused. Either is 400 invalid_body. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": "attack at dawn"
                 *     }
                 */
                "application/json": components["schemas"]["SealRequest"];
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OracleAnswer"];
                };
            };
            /** @description The error answer, with one of: empty_body, invalid_utf8, invalid_json, invalid_body, invalid_text, unsupported_operation. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "empty_body" | "invalid_utf8" | "invalid_json" | "invalid_body" | "invalid_text" | "unsupported_operation";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unauthorized";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: forbidden. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "forbidden";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unknown_key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unknown_key";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: body_too_large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "body_too_large";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: unsupported_media_type. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: rate_limited. */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "rate_limited";
                        };
                    };
                };
            };
            /** @description The error answer, with one of: busy, audit_unavailable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorAnswer"] & {
                        error: {
                            /** @enum {string} */
                            code: "busy" | "audit_unavailable";
                        };
                    };
                };
            };
        };
    };
}
