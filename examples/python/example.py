#!/usr/bin/env python3
"""A main server's calls to caas, with Python's standard library and pycryptodome.

One round trip per endpoint family: the oracle (opened locally with AES-GCM and by caas),
pseudonyms (the API key in the body, as the Django original's clients send it), the keyring, a
data key and a JWT, signed by caas under CAAS_SIGNING_KEY (a key made with --type ecdsa-p256,
ed25519 or rsa-2048 and --publish; default dev-jwt, development mode's) and verified here with
PyJWT against caas's JWKS. It prints what
it did, never a key, plaintext, ciphertext or token, and exits 1 with the reason on the first
failure.

    CAAS_URL=https://localhost:8443 CAAS_API_KEY=... CAAS_CACERT=ca.pem [CAAS_KEYRING_KEY=dev] \
      [CAAS_SIGNING_KEY=dev-jwt] python3 example.py

Needs pycryptodome for the local decrypt (Debian: python3-pycryptodome; pip: pycryptodome or
pycryptodomex) and, for the JWT, PyJWT with cryptography (Debian: python3-jwt, python3-cryptography;
pip: pyjwt[crypto]).
"""

import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

try:
    from Cryptodome.Cipher import AES  # Debian's python3-pycryptodome, pip's pycryptodomex
except ImportError:
    from Crypto.Cipher import AES  # pip's pycryptodome

try:
    import jwt  # PyJWT: Debian's python3-jwt, pip's pyjwt[crypto]
except ImportError:
    jwt = None

# What a failed JWT check raises (a bad signature, a wrong audience, an expired token).
JWT_ERRORS = (jwt.PyJWTError,) if jwt is not None else ()


class CaasError(Exception):
    pass


def required(name):
    value = os.environ.get(name, "")
    if value == "":
        raise CaasError(f"{name} is not set")
    return value


class Caas:
    def __init__(self, url, api_key, cacert):
        self.url = url.rstrip("/")
        self.api_key = api_key
        # Trust exactly the CA that signed caas's certificate; the host name is checked as usual.
        self.tls = ssl.create_default_context(cafile=cacert)

    def get(self, path):
        """A GET that needs no API key (the JWKS)."""
        with urllib.request.urlopen(self.url + path, context=self.tls, timeout=10) as answer:
            return json.load(answer)

    def post(self, path, body, key_in="header"):
        headers = {"Content-Type": "application/json"}
        if key_in == "header":
            headers["Authorization"] = f"Bearer {self.api_key}"
        elif key_in == "body":
            body = {"apiKey": self.api_key, **body}
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as refused:
            # caas's error messages never repeat the request, so the code is safe to show.
            try:
                code = json.load(refused).get("error", {}).get("code", "")
            except ValueError:
                code = ""
            raise CaasError(f"POST {path}: caas answered {refused.code} {code}".rstrip()) from None


def check(what, holds):
    if not holds:
        raise CaasError(f"{what}: did not hold")


def oracle(caas):
    secret = "attack at dawn"
    sealed = caas.post("/oracleinvocation/", {"data": secret}, key_in=None)
    key, nonce, data, mac = (base64.b64decode(sealed[field]) for field in ("key", "nonce", "data", "mac"))
    opened = AES.new(key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(data, mac).decode("utf-8")
    check("oracle: opened locally", opened == secret)
    reopened = caas.post("/oracleinvocation/decrypt", sealed, key_in=None)
    check("oracle: opened by caas", reopened["data"] == secret)
    print(f"oracle: sealed {len(secret)} characters under a {len(key)}-byte key, opened locally and by caas")


def pseudonyms(caas):
    user = {"userUUID": "4dbcbcfe-4800-40a8-badf-c26b73af230c", "sensitiveData": "user@example.com"}
    made = caas.post("/encrypt", user, key_in="body")
    digest = made["encrypted_data"]
    version = f"secret version {made['version']}" if "version" in made else "django-compat key"
    verified = caas.post("/verify", {**user, "encrypted_data": digest}, key_in="body")
    check("pseudonym: verifies", verified["match"] is True)
    other = caas.post("/verify", {**user, "sensitiveData": "other", "encrypted_data": digest}, key_in="body")
    check("pseudonym: other data does not verify", other["match"] is False)
    print(f"pseudonym: {len(digest)} hex digits ({version}); verify matched it, and not other data")


def keyring(caas, name):
    base = "/keyring/" + urllib.parse.quote(name, safe="")
    secret = "card 4111 1111 1111 1111"
    sealed = caas.post(base + "/encrypt", {"data": secret, "aad": "customer-7"})
    opened = caas.post(base + "/decrypt", {"ciphertext": sealed["ciphertext"], "aad": "customer-7"})
    check("keyring: decrypts", opened["data"] == secret)
    print(f"keyring {name}: encrypted under version {sealed['version']} ({len(sealed['ciphertext'])} characters), decrypted")

    datakey = caas.post(base + "/datakey", {})
    unwrapped = caas.post(base + "/decrypt", {"ciphertext": datakey["wrapped_key"], "encoding": "base64"})
    check("datakey: unwraps to the key", unwrapped["data"] == datakey["key"])
    print(f"datakey: a {len(base64.b64decode(datakey['key']))}-byte key, its wrapped form decrypted by caas to the same key")


def jwt_signing(caas, name):
    """A token signed by caas, verified here by PyJWT with the public key from caas's JWKS."""
    if jwt is None:
        raise CaasError("jwt: PyJWT is not installed (Debian: python3-jwt; pip: pyjwt[crypto])")
    path = "/keyring/" + urllib.parse.quote(name, safe="") + "/jwt"
    signed = caas.post(path, {"claims": {"sub": "user-42", "aud": "caas-example"}, "expires_in": 300})
    token = signed["token"]
    # The key is chosen by the token's kid, but its algorithm comes from the JWKS, never from the
    # token: a token cannot talk the verifier into "none" or HS256.
    kid = jwt.get_unverified_header(token).get("kid")
    published = [key for key in caas.get("/.well-known/jwks.json")["keys"] if key.get("kid") == kid]
    check(f"jwt: the JWKS publishes kid {kid}", len(published) == 1)
    jwk = jwt.PyJWK(published[0])
    claims = jwt.decode(token, key=jwk.key, algorithms=[published[0]["alg"]], audience="caas-example")
    check("jwt: the claims are the ones sent", claims["sub"] == "user-42" and claims["exp"] - claims["iat"] == 300)
    # One character of the signature changed (not the last, whose low bits base64url may ignore).
    at = len(token) - 10
    tampered = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    try:
        jwt.decode(tampered, key=jwk.key, algorithms=[published[0]["alg"]], audience="caas-example")
        raise CaasError("jwt: a tampered token verified")
    except jwt.InvalidSignatureError:
        pass
    print(
        f"jwt: signed by caas as {signed['kid']} ({published[0]['alg']}), verified by PyJWT against the JWKS: "
        f"sub {claims['sub']}, expires in {claims['exp'] - claims['iat']} s; a tampered token was refused"
    )


def main():
    try:
        caas = Caas(required("CAAS_URL"), required("CAAS_API_KEY"), required("CAAS_CACERT"))
        oracle(caas)
        pseudonyms(caas)
        keyring(caas, os.environ.get("CAAS_KEYRING_KEY") or "dev")
        jwt_signing(caas, os.environ.get("CAAS_SIGNING_KEY") or "dev-jwt")
    except (CaasError, OSError, ValueError, KeyError) + JWT_ERRORS as failure:
        print(f"caas example failed: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    print("all round trips passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
